"""skip_webfetch_preflight: Claude Code gets skipWebFetchPreflight in the one --settings it
reads (the last), the user's own settings kept, and nothing after a ``--`` touched."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from autosred.ctl.claudesettings import OURS, PREFLIGHT_KEY, skip_webfetch_preflight


def _effective(argv: list[str], cwd: Path) -> str | None:
    """The --settings value Claude Code would use: the last one among the options."""
    end = argv.index("--") if "--" in argv else len(argv)
    value = None
    index = 0
    while index < end:
        if argv[index] == "--settings" and index + 1 < end:
            value = argv[index + 1]
            index += 2
            continue
        if argv[index].startswith("--settings="):
            value = argv[index].partition("=")[2]
        index += 1
    return value


def test_no_settings_of_the_users_gets_ours_before_their_arguments(tmp_path: Path) -> None:
    result = skip_webfetch_preflight(["-p", "hi", "--", "--settings", "x"], cwd=tmp_path)
    assert result.before == ['--settings={"skipWebFetchPreflight":true}'] == [OURS]
    assert result.args == ["-p", "hi", "--", "--settings", "x"]
    assert result.warning is None


def test_inline_json_and_a_relative_file_are_merged(tmp_path: Path) -> None:
    inline = skip_webfetch_preflight(['--settings={"a": 1}', "-p", "hi"], cwd=tmp_path)
    assert inline.before == []
    assert inline.args == ['--settings={"a":1,"skipWebFetchPreflight":true}', "-p", "hi"]

    (tmp_path / "s.json").write_text('{"permissions": {"allow": ["WebFetch"]}}')
    from_file = skip_webfetch_preflight(["--settings", "s.json", "-p", "hi"], cwd=tmp_path)
    (option, *rest) = from_file.args
    assert rest == ["-p", "hi"]
    assert json.loads(option.removeprefix("--settings=")) == {
        "permissions": {"allow": ["WebFetch"]},
        PREFLIGHT_KEY: True,
    }


def test_only_the_last_settings_counts_as_in_claude_code(tmp_path: Path) -> None:
    args = ['--settings={"a": 1}', "--settings", '{"b": 2}']
    result = skip_webfetch_preflight(args, cwd=tmp_path)
    assert result.args == ['--settings={"a": 1}', '--settings={"b":2,"skipWebFetchPreflight":true}']


def test_the_users_own_word_on_the_key_is_kept(tmp_path: Path) -> None:
    args = ["--settings", '{"skipWebFetchPreflight": false}']
    result = skip_webfetch_preflight(args, cwd=tmp_path)
    assert (result.before, result.args, result.warning) == ([], args, None)


def test_what_cannot_be_read_is_passed_on_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "latin1.json").write_bytes(b'{"a": "\xe9"}')
    for value, why in [
        ("missing.json", "cannot read"),
        ("list.json", "not a JSON object"),
        ("latin1.json", "not UTF-8"),
        ("{not json}", "not plain JSON"),
    ]:
        result = skip_webfetch_preflight(["--settings", value], cwd=tmp_path)
        assert result.before == []
        assert result.args == ["--settings", value]
        assert result.warning is not None and why in result.warning, (value, result.warning)


_words = st.sampled_from(
    ["-p", "hi", "--", "--settings", "--settings=", '--settings={"a":1}', '{"b": 2}', "x.json"]
) | st.text(max_size=12)


@given(args=st.lists(_words, max_size=10))
def test_claude_code_always_sees_the_key_and_the_prompt_is_untouched(args: list[str]) -> None:
    cwd = Path("/nonexistent-autosred-test-dir")
    result = skip_webfetch_preflight(args, cwd=cwd)
    argv = [*result.before, *result.args]
    end = args.index("--") if "--" in args else len(args)
    assert argv[len(argv) - (len(args) - end) :] == args[end:]  # after `--`: as given
    value = _effective(argv, cwd)
    assert value is not None
    if result.warning is None:
        settings = json.loads(value)
        assert isinstance(settings, dict) and PREFLIGHT_KEY in settings
        if value != _effective(args, cwd):
            assert settings[PREFLIGHT_KEY] is True
    else:
        assert argv == args  # an unreadable value of the user's is left as it is
