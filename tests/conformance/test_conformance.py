"""ocibuild against BuildKit, one test per tests/cases/build/<name>/.

Each case is built by both builders from the same context and the same
imported busybox base; the normalised root filesystems and the relevant
config fields (helpers/configs.py) must be equal.  A failure shows a unified
diff, BuildKit's side first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from helpers.cases import BuildCase, all_cases
from helpers.compare import compare_images

if TYPE_CHECKING:
    from helpers.builders import SideCache

pytestmark = [pytest.mark.docker, pytest.mark.root]


@pytest.mark.parametrize("case", all_cases(), ids=lambda case: case.name)
def test_matches_buildkit(
    case: BuildCase, buildkit_results: SideCache, ocibuild_results: SideCache
) -> None:
    expected = buildkit_results.side(case)
    actual = ocibuild_results.side(case)
    comparison = compare_images(expected, actual)
    if not comparison.equal:
        pytest.fail(f"{case.name}: ocibuild differs from BuildKit\n{comparison.report()}", False)
