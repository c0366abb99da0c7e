"""The model server's /metrics text: its vLLM families kept, anything else refused cleanly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.servermetrics.parse import ExpositionError, parse
from autosred.sim.metrics import SimMetrics

PROCESS_LINES = """# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{handler="/v1/chat/completions",status="2xx"} 7.0
"""


def test_the_vllm_families_of_a_servers_text_are_kept() -> None:
    sim = SimMetrics(model="org/m", running=lambda: 2.0, kv_usage=lambda: 0.25)
    sim.first_token(0.3)
    families = {f.name: f for f in parse(PROCESS_LINES + sim.render().decode())}
    assert "process_cpu_seconds" not in families and "http_requests" not in families
    assert families["vllm:num_requests_running"].samples[0].value == 2.0
    assert families["vllm:prompt_tokens"].type == "counter"
    assert families["vllm:time_to_first_token_seconds"].type == "histogram"


def test_a_body_that_is_not_prometheus_text_is_refused() -> None:
    for text in ("vllm:x{a=1} 2\n", "vllm:x not-a-number\n", '# TYPE vllm:x counter\nvllm:x{a="\n'):
        try:
            parse(text)
        except ExpositionError as exc:
            assert "not Prometheus text" in str(exc)
        else:
            raise AssertionError(f"accepted {text!r}")


_LINE = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda name, labels, value: f"vllm:{name}{labels} {value}",
        st.text("abc_:", min_size=1, max_size=8),
        st.sampled_from(
            ["", "{}", '{a="1"}', '{a="\\"x"}', "{a=1}", '{le="+Inf"}', "{", '{a="1",}']
        ),
        st.one_of(st.floats().map(str), st.text(max_size=6)),
    ),
    st.builds(
        lambda kind, name: f"# TYPE vllm:{name} {kind}",
        st.sampled_from(["counter", "gauge", "histogram", "summary", "info", "bogus", ""]),
        st.text("abc_", max_size=6),
    ),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_LINE, max_size=8))
def test_any_text_parses_or_is_refused_with_exposition_error(lines: list[str]) -> None:
    try:
        families = parse("\n".join(lines))
    except ExpositionError:
        return
    assert all(family.name.startswith("vllm:") for family in families)
