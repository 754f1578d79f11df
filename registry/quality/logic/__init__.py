"""REDCap's logic language (branching logic, calculations), parsed and evaluated per column.

`parse(text)` reads branching logic or a calculation into a small tree; `evaluate(node,
env)` computes it for every row of a frame at once. What a field reference means (the
same row, another form, another event, another instance) is the environment's business
(`registry.quality.branching.RecordEnv`); this package only knows the language
(syntax: tokens and `parse`; values: `Val`, one value per row; functions: REDCap's
functions; evaluation: `evaluate`):

- references `[field]`, `[field(code)]` (a checkbox choice, "1"/"0"), `[event][field]`,
  `[field][2]`, `[field][last-instance]` and the smart variables `[event-name]`,
  `[previous-event-name]`, `[next-event-name]`, `[first-event-name]`,
  `[last-event-name]`, `[arm-number]`, `[record-name]`, `[current-instance]`;
- numbers, 'text' or "text", `true`/`false`; `+ - * / ^`; `= == <> != < <= > >=`;
  `and`/`or` (also `&&`/`||`), `not`/`!`; parentheses;
- REDCap's functions: `if`, `datediff`, `round`, `roundup`, `rounddown`, `sqrt`,
  `abs`, `exp`, `log`, `mod`, `min`, `max`, `mean`, `median`, `sum`, `stdev`,
  `isnumber`, `isinteger`, `isblankormissingcode`, `contains`, `not_contain`,
  `starts_with`, `ends_with`, `left`, `right`, `mid`, `length`, `find`, `concat`,
  `upper`, `lower`, `trim`, `year`, `month`, `day`.

Values follow REDCap: every value is text; a comparison is numeric when both sides are
numbers and textual otherwise (so `[visit] > '2020-01-01'` compares Y-M-D dates);
arithmetic on a blank is blank. One deliberate difference: a comparison with a blank
field is *unknown* (neither true nor false) unless it tests for blank (`[x] = ''`), and
`and`/`or` follow three-valued logic, so one missing answer is flagged itself instead
of cascading into every field it controls.
"""

from registry.quality.logic.evaluation import evaluate
from registry.quality.logic.functions import FUNCTIONS
from registry.quality.logic.syntax import (
    ARITY,
    Call,
    Literal,
    LogicError,
    Node,
    Op,
    Ref,
    parse,
    refs,
)
from registry.quality.logic.values import (
    Env,
    Val,
    from_dates,
    from_number,
    from_text,
    numbers,
    truth,
)

__all__ = ["ARITY", "FUNCTIONS", "Call", "Env", "Literal", "LogicError", "Node", "Op", "Ref",
           "Val", "evaluate", "from_dates", "from_number", "from_text", "numbers", "parse",
           "refs", "truth"]
