"""`xpagent ops render`: the files it writes, checked by the real tools that read them.

The polkit rule is executed by Node.js with a stub `polkit` object; the unit goes
through `systemd-analyze verify`, the OpenRC script through `sh -n`, the doas lines
through `doas -C` and the sudoers drop-in through `visudo -cf`. A test whose tool is
missing is skipped, saying which Debian package provides it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from xpagent.cli import main

TOOL_TIMEOUT_SECS = 60
UNIT = Path("etc/systemd/system/xpagent.service")
POLKIT_RULE = Path("etc/polkit-1/rules.d/50-xpagent.rules")
ENV_FILE = Path("etc/xpagent/xpagent.env")
OPENRC_SCRIPT = Path("etc/init.d/xpagent")
DOAS_CONF = Path("etc/doas.d/xpagent.conf")
SUDOERS = Path("etc/sudoers.d/xpagent")
SYSTEMD_RESTARTS = {
    "XP_XRAY_RESTART_MODE": "systemd",
    "XP_CLOUDFLARED_RESTART_MODE": "systemd",
    "XP_CLOUDFLARED_MONITOR_MODE": "metrics",
    "XP_CLOUDFLARED_METRICS_URL": "http://127.0.0.1:20241",
}
OPENRC_RESTARTS = {"XP_XRAY_RESTART_MODE": "openrc", "XP_CLOUDFLARED_RESTART_MODE": "openrc"}


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return found


def run_tool(*argv: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECS,
        check=False,
        stdin=subprocess.DEVNULL,
        user=user,
    )


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No XP_* from the outer environment; the working directory is a fresh one, so a
    file written outside --out would show there."""
    for name in list(os.environ):
        if name.startswith("XP_"):
            monkeypatch.delenv(name)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield cwd
    assert list(cwd.iterdir()) == [], "ops render wrote outside --out"


def render(
    monkeypatch: pytest.MonkeyPatch,
    out: Path | None,
    *args: str,
    init: str = "systemd",
    **env: str,
) -> int:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv = ["ops", "render", "--init", init, *args]
    if out is not None:
        argv += ["--out", str(out)]
    return main(argv)


def exit_status_of(argv: list[str]) -> int:
    """`xpagent ARGV`'s exit status, whether main returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(str(exc.code))


def tree(out: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(out)): (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


# --- what is written -------------------------------------------------------------------------


def test_systemd_render_writes_unit_env_and_polkit_rule(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """With systemd restarts: the unit, the env file (0600) and the polkit rule; the
    closing note lists them, the exposure score and how to install them."""
    out = tmp_path / "out"
    assert render(monkeypatch, out, XP_ADMIN_TOKEN="s3cret", **SYSTEMD_RESTARTS) == 0

    files = tree(out)
    assert set(files) == {str(UNIT), str(ENV_FILE), str(POLKIT_RULE)}
    assert files[str(ENV_FILE)][1] == 0o600
    assert files[str(UNIT)][1] == 0o644
    unit = files[str(UNIT)][0].decode()
    for line in (
        "User=xp",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/xpagent",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "EnvironmentFile=/etc/xpagent/xpagent.env",
    ):
        assert f"\n{line}\n" in unit
    env = files[str(ENV_FILE)][0].decode()
    assert "\nXP_ADMIN_TOKEN=s3cret\n" in env
    assert "\nXP_DATA_DIR=/var/lib/xpagent\n" in env
    assert "\nXP_XRAY_RESTART_MODE=systemd\n" in env
    assert "\n#XP_BIND=127.0.0.1:62416\n" in env
    note = capsys.readouterr().out
    assert "3 file(s) written, 0 unchanged" in note
    assert "systemctl enable --now xpagent.service" in note
    if shutil.which("systemd-analyze"):
        assert "systemd-analyze security exposure of the unit: " in note
        assert "not measured" not in note


def test_rendering_twice_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """A second render with the same settings leaves every file as it was."""
    out = tmp_path / "out"
    assert render(monkeypatch, out, init="openrc", **OPENRC_RESTARTS) == 0
    first = tree(out)
    capsys.readouterr()

    assert render(monkeypatch, out, init="openrc", **OPENRC_RESTARTS) == 0

    assert tree(out) == first
    assert "0 file(s) written, 4 unchanged" in capsys.readouterr().out


def test_a_changed_setting_rewrites_only_what_changed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """Changing one setting rewrites the env file and leaves the others alone."""
    out = tmp_path / "out"
    assert render(monkeypatch, out, **SYSTEMD_RESTARTS) == 0
    first = tree(out)

    assert render(monkeypatch, out, XP_LOG_LEVEL="debug", **SYSTEMD_RESTARTS) == 0

    second = tree(out)
    assert [name for name in first if first[name] != second[name]] == [str(ENV_FILE)]
    assert "\nXP_LOG_LEVEL=debug\n" in second[str(ENV_FILE)][0].decode()


def test_dry_run_prints_the_files_hides_the_token_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """--dry-run prints every file with where it goes, the token hidden; nothing is written."""
    out = tmp_path / "out"
    assert (
        render(
            monkeypatch, out, "--dry-run", XP_ADMIN_TOKEN="s3cret", **OPENRC_RESTARTS, init="openrc"
        )
        == 0
    )

    printed = capsys.readouterr().out
    assert not out.exists()
    assert "s3cret" not in printed
    assert '\nXP_ADMIN_TOKEN="<hidden>"\n' in printed
    for path in (OPENRC_SCRIPT, ENV_FILE, DOAS_CONF, SUDOERS):
        assert f"==> {out / path} (mode " in printed
    assert "installs to /etc/init.d/xpagent" in printed


def test_flags_count_like_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The same flags as `xpagent run` are taken, and win over the environment."""
    out = tmp_path / "out"
    code = render(
        monkeypatch,
        out,
        "--xray-restart-mode",
        "systemd",
        "--xray-systemd-unit",
        "xray",
        "--user",
        "proxywatch",
        XP_XRAY_RESTART_MODE="none",
    )

    assert code == 0
    rule = (out / POLKIT_RULE).read_text()
    assert 'unit === "xray.service"' in rule  # the name systemd uses
    assert 'subject.user !== "proxywatch"' in rule
    assert "cloudflared" not in rule.split("polkit.addRule")[1]
    assert "\nUser=proxywatch\n" in (out / UNIT).read_text()


def test_no_permission_file_without_restarts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """With restart modes none, no polkit rule, doas or sudoers file is written."""
    out = tmp_path / "out"
    assert render(monkeypatch, out) == 0
    assert render(monkeypatch, tmp_path / "out2", init="openrc") == 0

    assert set(tree(out)) == {str(UNIT), str(ENV_FILE)}
    assert set(tree(tmp_path / "out2")) == {str(OPENRC_SCRIPT), str(ENV_FILE)}
    assert 'no_new_privs="yes"' in (tmp_path / "out2" / OPENRC_SCRIPT).read_text()


def test_command_restarts_keep_setuid_working(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A restart command may use sudo: the unit then sets no NoNewPrivileges and keeps
    the capability bounding set, and the OpenRC script sets no no_new_privs."""
    command = {"XP_XRAY_RESTART_MODE": "command", "XP_XRAY_RESTART_COMMAND": "sudo -n restart-x"}
    assert render(monkeypatch, tmp_path / "s", **command) == 0
    assert render(monkeypatch, tmp_path / "o", init="openrc", **command) == 0

    unit = (tmp_path / "s" / UNIT).read_text()
    assert "NoNewPrivileges=" not in unit.replace("# no NoNewPrivileges=", "")
    assert "\nCapabilityBoundingSet=" not in unit
    assert "~@privileged" not in unit.replace("no ~@privileged", "")
    assert "no_new_privs" not in (tmp_path / "o" / OPENRC_SCRIPT).read_text()
    assert (
        '\nXP_XRAY_RESTART_COMMAND="sudo -n restart-x"\n' in (tmp_path / "s" / ENV_FILE).read_text()
    )


def test_env_values_read_back_as_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Values with spaces, quotes, $ and backslashes read back unchanged when the env
    file is sourced, as the OpenRC script does."""
    tricky = {
        "XP_XRAY_RESTART_MODE": "command",
        "XP_XRAY_RESTART_COMMAND": "/usr/local/sbin/restart-xray --why 'it is $DOWN' \\ \"q\" `x`",
        "XP_NODE_NAME": "Tokyo #1 (primary)",
    }
    assert render(monkeypatch, tmp_path, init="openrc", **tricky) == 0

    done = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"; env -0', "sh", str(tmp_path / ENV_FILE)],
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    values = dict(
        item.split("=", 1) for item in done.stdout.decode().split("\0") if item.startswith("XP_")
    )
    assert values == {**tricky, "XP_DATA_DIR": "/var/lib/xpagent"}


# --- bad input: exit 2, one line ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"XP_XRAY_RESTART_MODE": "openrc"}, "XP_XRAY_RESTART_MODE=openrc does not fit"),
        (
            ("--init", "openrc"),
            {"XP_CLOUDFLARED_RESTART_MODE": "systemd"},
            "XP_CLOUDFLARED_RESTART_MODE=systemd does not fit --init openrc",
        ),
        ((), {"XP_DATA_DIR": "./data"}, "XP_DATA_DIR=./data is relative"),
        ((), {"XP_DATA_DIR": "/home/xp/state"}, "is hidden from the service"),
        (
            (),
            {"XP_CLOUDFLARED_HEALTH_INTERVAL_SECS": "0"},
            "XP_CLOUDFLARED_HEALTH_INTERVAL_SECS=0 is out of range 1..=60",
        ),
        (("--user", "root"), {}, "--user 'root' must not be root"),
        (("--user", "Bad User"), {}, "is not a valid user name"),
        (("--executable", "bin/xpagent"), {}, "is not an absolute path"),
        (("--init", "upstart"), {}, "invalid choice: 'upstart'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    env: dict[str, str],
    message: str,
):
    """A setting or option a service cannot run with stops with exit 2 and one line;
    nothing is written."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    argv = ["ops", "render", "--out", str(out), *args]
    if "--init" not in args:
        argv += ["--init", "systemd"]

    code = exit_status_of(argv)

    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("xpagent ops render: ")
    assert message in err
    assert not out.exists()


def test_a_file_the_sandbox_hides_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """A cluster secret under /tmp would be invisible to the unit (PrivateTmp=): exit 2."""
    with tempfile.NamedTemporaryFile(dir="/tmp", prefix="xpagent-secret-") as secret:
        secret.write(b"s" * 40)
        secret.flush()
        os.chmod(secret.name, 0o600)

        code = render(monkeypatch, tmp_path / "out", XP_CLUSTER_SECRET_FILE=secret.name)

    assert code == 2
    assert capsys.readouterr().err == (
        f"xpagent ops render: XP_CLUSTER_SECRET_FILE={secret.name} is hidden from the "
        "service (ProtectHome=, PrivateTmp=); keep it under /etc/xpagent\n"
    )


def test_out_must_be_given_without_dry_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Without --out (and without --dry-run) there is nowhere to write: exit 2."""
    assert render(monkeypatch, None) == 2
    assert capsys.readouterr().err == (
        "xpagent ops render: --out DIR is required (or --dry-run to print the files)\n"
    )


def test_never_writes_through_a_symbolic_link(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """A symbolic link inside --out pointing elsewhere is refused, not followed."""
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "etc").symlink_to(elsewhere)

    assert render(monkeypatch, out) == 2

    assert list(elsewhere.iterdir()) == []
    assert "refusing to write through the symbolic link" in capsys.readouterr().err


# --- the real tools --------------------------------------------------------------------------


def test_the_unit_passes_systemd_analyze_verify(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Both kinds of unit (no privilege at all; setuid kept for a restart command) load
    in systemd without a single warning."""
    analyze = tool("systemd-analyze", "systemd")
    assert render(monkeypatch, tmp_path / "polkit", **SYSTEMD_RESTARTS) == 0
    assert (
        render(
            monkeypatch,
            tmp_path / "command",
            XP_XRAY_RESTART_MODE="command",
            XP_XRAY_RESTART_COMMAND="sudo -n systemctl restart xray.service",
        )
        == 0
    )

    for variant in ("polkit", "command"):
        done = run_tool(analyze, "verify", str(tmp_path / variant / UNIT))
        assert (done.returncode, done.stderr) == (0, ""), variant


def test_the_unit_exposure_score_is_low(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`systemd-analyze security` rates the polkit variant's exposure at most 2.0."""
    analyze = tool("systemd-analyze", "systemd")
    assert render(monkeypatch, tmp_path, **SYSTEMD_RESTARTS) == 0

    done = run_tool(analyze, "security", "--offline=true", "--no-pager", str(tmp_path / UNIT))

    if "--offline" in done.stderr:
        pytest.skip("systemd-analyze cannot judge a unit file offline before systemd 250")
    score = float(done.stdout.split("Overall exposure level for xpagent.service: ")[1].split()[0])
    assert score <= 2.0


def test_the_openrc_script_is_valid_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`sh -n` accepts the OpenRC script, in each variant."""
    assert render(monkeypatch, tmp_path / "a", init="openrc", **OPENRC_RESTARTS) == 0
    assert render(monkeypatch, tmp_path / "b", init="openrc") == 0

    for variant in ("a", "b"):
        script = tmp_path / variant / OPENRC_SCRIPT
        assert script.read_text().startswith("#!/sbin/openrc-run\n")
        done = run_tool("sh", "-n", str(script))
        assert (done.returncode, done.stderr) == (0, "")
    if shutil.which("openrc-run") is None:
        # Debian's CI has no OpenRC; `sh -n` is the check there.
        return
    done = run_tool("openrc-run", str(tmp_path / "a" / OPENRC_SCRIPT), "describe")
    assert done.returncode == 0, done.stderr


def test_the_doas_lines_parse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`doas -C` parses the doas.conf lines."""
    doas = tool("doas", "doas")
    assert render(monkeypatch, tmp_path, init="openrc", **OPENRC_RESTARTS) == 0

    done = run_tool(doas, "-C", str(tmp_path / DOAS_CONF))

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    lines = [
        line for line in (tmp_path / DOAS_CONF).read_text().splitlines() if not line.startswith("#")
    ]
    assert lines == [
        "permit nopass xp as root cmd rc-service args xray restart",
        "permit nopass xp as root cmd rc-service args cloudflared restart",
    ]


def test_doas_permits_exactly_the_restarts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Asked by the rule's own user, `doas -C FILE COMMAND` permits exactly
    `rc-service SERVICE restart` of the configured services and denies the rest."""
    doas = tool("doas", "doas")
    if os.geteuid() != 0:
        pytest.skip("matching as another user needs root (to switch to nobody)")
    # nobody stands in for the agent's user; it must be able to read the file.
    with tempfile.TemporaryDirectory() as shared:
        os.chmod(shared, 0o755)
        out = Path(shared) / "out"
        assert render(monkeypatch, out, "--user", "nobody", init="openrc", **OPENRC_RESTARTS) == 0
        conf = out / DOAS_CONF
        conf.chmod(0o644)
        (out / "etc").chmod(0o755)
        (out / "etc/doas.d").chmod(0o755)
        nobody = int(run_tool("id", "-u", "nobody").stdout)

        def verdict(*command: str) -> str:
            done = run_tool(doas, "-C", str(conf), *command, user=nobody)
            return done.stdout.strip()

        assert verdict("rc-service", "xray", "restart") == "permit nopass"
        assert verdict("rc-service", "cloudflared", "restart") == "permit nopass"
        for denied in (
            ("rc-service", "xray", "stop"),
            ("rc-service", "xray", "start"),
            ("rc-service", "xray"),
            ("rc-service", "nginx", "restart"),
            ("rc-service", "xray", "restart", "--now"),
            ("/sbin/rc-service", "xray", "restart"),
            ("sh", "-c", "rc-service xray restart"),
        ):
            assert verdict(*denied) == "deny", denied


def test_the_sudoers_drop_in_parses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`visudo -cf` parses the sudoers drop-in, installed as a file without a dot."""
    visudo = tool("visudo", "sudo")
    assert render(monkeypatch, tmp_path, init="openrc", **OPENRC_RESTARTS) == 0

    done = run_tool(visudo, "-cf", str(tmp_path / SUDOERS))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "." not in SUDOERS.name  # sudo skips drop-ins whose name holds a dot
    rule = (tmp_path / SUDOERS).read_text().splitlines()[-1]
    assert rule == (
        "xp ALL=(root) NOPASSWD: /sbin/rc-service xray restart, "
        "/sbin/rc-service cloudflared restart"
    )


# --- the polkit rule, executed ------------------------------------------------------------------

# Loads the rules file into a fresh context whose only global is a stub of polkit's
# `polkit` object, then asks every rule about each case, as polkitd does: the first
# rule that returns something other than NOT_HANDLED (null or undefined) decides.
POLKIT_HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
// With -e there is no script path: the arguments start at argv[1].
const [rulesPath, casesJson] = process.argv.slice(1);
const rules = [];
const polkit = {
  Result: {
    NO: "no", YES: "yes", AUTH_SELF: "auth_self", AUTH_SELF_KEEP: "auth_self_keep",
    AUTH_ADMIN: "auth_admin", AUTH_ADMIN_KEEP: "auth_admin_keep", NOT_HANDLED: null,
  },
  addRule(rule) { rules.push(rule); },
  addAdminRule() {},
  log() {},
  spawn() { throw new Error("a rule must not spawn programs"); },
};
vm.runInNewContext(fs.readFileSync(rulesPath, "utf8"), { polkit }, { filename: rulesPath });
const verdicts = JSON.parse(casesJson).map((c) => {
  const action = { id: c.action, lookup: (key) => c.details[key] };
  const subject = {
    user: c.user, groups: [c.user], pid: 4242, seat: "", session: "", local: false,
    active: false, isInGroup: (group) => group === c.user, isInNetGroup: () => false,
  };
  for (const rule of rules) {
    const verdict = rule(action, subject);
    if (verdict !== undefined && verdict !== null) return verdict;
  }
  return null;
});
process.stdout.write(JSON.stringify({ rules: rules.length, verdicts }));
"""

MANAGE_UNITS = "org.freedesktop.systemd1.manage-units"


def case(
    user: str = "xp",
    action: str = MANAGE_UNITS,
    verb: str | None = "restart",
    unit: str | None = "xray.service",
) -> dict[str, object]:
    details = {key: value for key, value in (("verb", verb), ("unit", unit)) if value is not None}
    return {"user": user, "action": action, "details": details}


POLKIT_YES = {
    "xray": case(),
    "cloudflared": case(unit="cloudflared.service"),
}
POLKIT_NOT_YES = {
    "stop": case(verb="stop"),
    "start": case(verb="start"),
    "reload": case(verb="reload"),
    "try-restart": case(verb="try-restart"),
    "reload-or-restart": case(verb="reload-or-restart"),
    "another unit": case(unit="sshd.service"),
    "a unit name without its type": case(unit="xray"),
    "another user": case(user="www-data"),
    "root": case(user="root"),
    "unit files": case(action="org.freedesktop.systemd1.manage-unit-files"),
    "daemon-reload": case(action="org.freedesktop.systemd1.reload-daemon"),
    "reboot": case(action="org.freedesktop.login1.reboot"),
    "no verb": case(verb=None),
    "no unit": case(unit=None),
}


def test_the_polkit_rule_allows_exactly_the_restarts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """Executed with a stub `polkit`: YES for the user + `restart` + each configured
    unit; never YES for another verb, unit, user or action, or without a verb."""
    node = tool("node", "nodejs")
    assert render(monkeypatch, tmp_path, **SYSTEMD_RESTARTS) == 0
    cases = {**POLKIT_YES, **POLKIT_NOT_YES}

    done = run_tool(
        node, "-e", POLKIT_HARNESS, str(tmp_path / POLKIT_RULE), json.dumps(list(cases.values()))
    )

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["rules"] == 1
    verdicts = dict(zip(cases, answer["verdicts"], strict=True))
    assert {name: verdicts[name] for name in POLKIT_YES} == dict.fromkeys(POLKIT_YES, "yes")
    assert {name: verdicts[name] for name in POLKIT_NOT_YES} == dict.fromkeys(POLKIT_NOT_YES)


def test_the_polkit_rule_is_es5(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """polkit's JavaScript engines (mozjs, duktape) take ES5: no arrows, let, const or
    template strings."""
    assert render(monkeypatch, tmp_path, **SYSTEMD_RESTARTS) == 0
    code = "\n".join(
        line
        for line in (tmp_path / POLKIT_RULE).read_text().splitlines()
        if not line.startswith("//")
    )
    for construct in ("=>", "let ", "const ", "`"):
        assert construct not in code
