"""What a REDCap value means: field types and text validations, one function per meaning.

REDCap exports every value as a string; what a value *means* is in the data dictionary
(field type, text validation, choices, min/max). This package is the one place that
reads it, so tidy's typed frames, its `conformance` frame and the dictionary-derived
quality rules agree on every field:

- `field_type(row)`: the pandas dtype of the field's column, its vectorised parser and
  the reason ("validation is date_ymd");
- `validation_of(row)`: REDCap's text validation (`VALIDATIONS`), with the format REDCap
  *stores* (dates are always exported Y-M-D whatever the entry order, comma-decimal
  numbers keep their comma) and the plain words a coordinator reads ("a number with 1
  decimal, such as 12.5");
- `bounds(row, today=, now=)`: the min/max of the field in the column's own type
  (`today` and `now` included);
- `choices`, `checkbox_columns`, `export_columns`: the choices and export columns.

Its modules: validations (REDCap's text validations), choices (choices, export columns),
parsing (field types and their parsers), bounds (min/max, values written out).

A parser takes a whole column of raw strings (REDCap's `""` or a missing value meaning
"empty") and returns the typed column plus the mask of non-empty values REDCap's own
validation would refuse (the conformance problems). Such a value becomes missing in the
typed column, so every non-empty value is either read or reported, never both. Values
are converted once per distinct text (a date column of 150,000 rows holds a few
thousand distinct dates).
"""

from registry.fieldtypes.bounds import BoundError, bounds, format_bound, format_value
from registry.fieldtypes.choices import (
    checkbox_code,
    checkbox_columns,
    choices,
    export_columns,
    parse_choices,
)
from registry.fieldtypes.parsing import (
    FieldType,
    Parser,
    blank_cells,
    choice_labels,
    expected_words,
    field_type,
    read_texts,
)
from registry.fieldtypes.validations import (
    DATE_VALIDATIONS,
    VALIDATIONS,
    Validation,
    validation_of,
)

__all__ = [
    "blank_cells",
    "choice_labels",
    "DATE_VALIDATIONS",
    "VALIDATIONS",
    "BoundError",
    "FieldType",
    "Parser",
    "Validation",
    "bounds",
    "checkbox_code",
    "checkbox_columns",
    "choices",
    "expected_words",
    "export_columns",
    "field_type",
    "format_bound",
    "format_value",
    "parse_choices",
    "read_texts",
    "validation_of",
]
