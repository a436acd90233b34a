"""What ``envdoctor pin`` prints about its result (envdoctor.render.pin): the header of the pin file."""

from __future__ import annotations

from pathlib import Path

from envdoctor.fix.pinfile import pin_set
from envdoctor.fix.planner import Plan
from tests.fakes import NO_PIP_CONFIG as NO_CONFIG
from tests.fakes import Fake, scan, site_with


def test_the_header_has_one_verdict_and_it_names_what_is_left(tmp_path: Path) -> None:
    from envdoctor.fix.pin import PinResult, Verification
    from envdoctor.render import pin as pin_view
    from envdoctor.report import Finding, Report, Severity

    inv = scan(site_with(tmp_path, {"requests": Fake("2.34.2", ["idna"]), "idna": Fake("2.4")}))
    left = Finding("wheel-unsupported", Severity.ERROR, "idna 2.4 was built for another Python", packages=("idna",))
    plan = Plan(remaining=(left,))
    pins = pin_set(inv, plan, [], pip=NO_CONFIG)
    said = (
        "pip 23.2.1 resolves it (0 to install); envdoctor's checks of the resolved set find no error but the 1 listed"
    )
    header = pin_view.header(PinResult(inv, Report(), plan, pins, Verification(True, said)))
    verdicts = [h for h in header if h.startswith(("verified", "NOT verified"))]
    assert verdicts == [f"verified, but NOT a complete fix (1 error NOT fixed, below): {said}"]
    assert "NOT fixed: [wheel-unsupported] idna 2.4 was built for another Python" in header
    healthy = pin_view.header(PinResult(inv, Report(), Plan(), pins, Verification(True, "pip resolves it")))
    assert [h for h in healthy if h.startswith(("verified", "NOT verified", "the environment"))] == [
        "verified: the environment has no error, these are its current versions; pip resolves it"
    ]
