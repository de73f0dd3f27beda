"""The chapter's worked examples and computable exercises, each checked.

Every section recomputes one part of the chapter with tfconv (its ops and its
layers), prints the results the way the book does and checks them against
the numbers the book prints: a mismatch raises `BookMismatchError`, an
`AssertionError`. The exercise sections check their own answers (against a
direct computation or an identity) since the book prints none.

Sections, in the chapter's order (`SECTIONS`, in `runner`): `corr2d`,
`edges`, `learn-kernel`, `padding-stride`, `channels`, `pooling`, `lenet`
(`basics`), then the exercises `ex-derivatives`, `ex-diagonal`, `ex-matmul`,
`ex-compose` (`ex_correlation`), `ex-pooling` (`ex_pooling`) and `ex-cost`
(`ex_cost`).

Example:

>>> results = tfconv.chapter.run(["corr2d"])
== 6.2 The cross-correlation operator ==
corr2d(X, K):
[[19. 25.]
 [37. 43.]]
...
>>> model_cost(tfconv.models.build("lenet")).macs
416520
"""

from tfconv.chapter.basics import (
    BOOK_LENET_SHAPES,
    section_channels,
    section_corr2d,
    section_edges,
    section_learn_kernel,
    section_lenet,
    section_padding_stride,
    section_pooling,
)
from tfconv.chapter.checks import BookMismatchError, check, check_array
from tfconv.chapter.ex_correlation import (
    compose_kernels,
    corr2d_matrix,
    diagonal_image,
    finite_difference_kernel,
    im2col,
    section_ex_compose,
    section_ex_derivatives,
    section_ex_diagonal,
    section_ex_matmul,
)
from tfconv.chapter.ex_cost import section_ex_cost
from tfconv.chapter.ex_pooling import section_ex_pooling
from tfconv.chapter.inputs import edge_image
from tfconv.chapter.printing import PrintFn
from tfconv.chapter.runner import SECTIONS, Section, list_sections, main, run
from tfconv.models.cost import LayerCost, ModelCost, model_cost

__all__ = [
    "BOOK_LENET_SHAPES",
    "SECTIONS",
    "BookMismatchError",
    "LayerCost",
    "ModelCost",
    "PrintFn",
    "Section",
    "check",
    "check_array",
    "compose_kernels",
    "corr2d_matrix",
    "diagonal_image",
    "edge_image",
    "finite_difference_kernel",
    "im2col",
    "list_sections",
    "main",
    "model_cost",
    "run",
    "section_channels",
    "section_corr2d",
    "section_edges",
    "section_ex_compose",
    "section_ex_cost",
    "section_ex_derivatives",
    "section_ex_diagonal",
    "section_ex_matmul",
    "section_ex_pooling",
    "section_learn_kernel",
    "section_lenet",
    "section_padding_stride",
    "section_pooling",
]
