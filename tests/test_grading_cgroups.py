"""Where runner cgroups go, on cgroup v2 and v1 trees built in a temporary folder.

The CI machines mount cgroup v1, so the v2 logic is tested here on a fake hierarchy: plain files
named as the kernel names them. (The v1 logic runs for real in test_grading_sandbox.py.)
"""

import pytest

from course_lib.grading import cgroups, sandbox


def _tree(top, enabled: dict[str, str]):
    """A fake cgroup v2 hierarchy: folder -> the controllers it hands down."""
    for folder, controllers in enabled.items():
        path = top / folder
        path.mkdir(parents=True, exist_ok=True)
        (path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
        (path / "cgroup.subtree_control").write_text(controllers + "\n")
        (path / "cgroup.procs").write_text("")
    return [("cgroup2", str(top), "/", {"rw"})]


def test_v2_uses_the_nearest_group_that_hands_the_controllers_down(tmp_path):
    mounts = _tree(
        tmp_path,
        {
            ".": "cpu io memory pids",
            "user.slice": "cpu memory pids",
            "user.slice/session-2.scope": "",  # Our own group: it holds processes.
        },
    )
    base, why = cgroups._v2(mounts, "/user.slice/session-2.scope")
    assert why == "" and base.dirs["memory"] == tmp_path / "user.slice"


def test_v2_without_delegation_says_what_is_missing(tmp_path):
    mounts = _tree(tmp_path, {".": "memory", "user.slice": "", "user.slice/app.scope": ""})
    base, why = cgroups._v2(mounts, "/user.slice/app.scope")
    assert base is None
    assert "no writable cgroup v2 group with the memory, pids, cpu controllers" in why
    assert "Delegate=yes" in why


def test_v2_groups_hand_controllers_down_and_get_their_limits(tmp_path):
    mounts = _tree(tmp_path, {".": "cpu memory pids", "camp-1": ""})  # The kernel's files.
    base, _ = cgroups._v2(mounts, "/")
    zygote = base.child("camp-1", hand_down=True)
    assert (tmp_path / "camp-1" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    for name in ("memory.max", "memory.swap.max", "memory.oom.group", "pids.max"):
        (tmp_path / "camp-1" / name).write_text("")  # Empty stand-ins for the kernel's files.
    zygote.limit(512 << 20, 64)
    assert (tmp_path / "camp-1" / "memory.max").read_text() == str(512 << 20)
    assert (tmp_path / "camp-1" / "memory.swap.max").read_text() == "0"
    assert (tmp_path / "camp-1" / "memory.oom.group").read_text() == "1"
    assert (tmp_path / "camp-1" / "pids.max").read_text() == "64"


def test_v2_counters_read_cpu_time_and_oom_kills(tmp_path):
    runner = tmp_path / "r7"
    runner.mkdir()
    group = cgroups.Group(dict.fromkeys(cgroups.CONTROLLERS, runner), 2)
    (runner / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (runner / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n")
    (tmp_path / "memory.events").write_text("oom 2\noom_kill 2\n")  # The zygote's group.
    group.open_counters()
    try:
        assert group.cpu_seconds() == 2.5 and group.oom_kills() == 0
        # The parent's limit came first: that kill is this runner's too.
        (tmp_path / "memory.events").write_text("oom 3\noom_kill 3\n")
        assert group.oom_kills() == 1
    finally:
        group.close_counters()


def test_v1_names_each_hierarchy_it_cannot_use(tmp_path):
    (tmp_path / "memory").mkdir()
    mounts = [("cgroup", str(tmp_path / "memory"), "/", {"rw", "memory"})]
    dirs, missing = cgroups._v1(mounts, {"memory": "/", "pids": "/"})
    assert dirs == {"memory": tmp_path / "memory"}
    assert "pids (no cgroup v1 hierarchy)" in missing and "cpu (no cgroup v1 hierarchy)" in missing


@pytest.mark.skipif(cgroups.discover().base is None, reason="no cgroup this user may divide")
def test_this_machine_bounds_runners_with_every_controller():
    found = cgroups.discover()
    assert set(cgroups.CONTROLLERS) <= set(found.base.dirs)
    assert not [item for item in sandbox.probe().missing if "cgroup" in item]
