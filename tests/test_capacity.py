"""What a batch counts on: the CPUs it may use (affinity, cgroup v2 quota) and the input size."""

import os

import pytest

from cup_triage.io.capacity import (
    available_cpus,
    busy_cpus,
    cgroup_cpu_quota,
    default_jobs,
    estimated_cases,
)


def _cgroup(tmp_path, limits):
    """A cgroup v2 tree under tmp_path with `cpu.max` per folder, and a membership file."""
    root = tmp_path / "cgroup"
    for folder, limit in limits.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        if limit is not None:
            (root / folder / "cpu.max").write_text(limit + "\n")
    membership = tmp_path / "membership"
    membership.write_text("0::/" + max(limits, key=len) + "\n")
    return root, membership


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"a": "max 100000", "a/b": "150000 100000"}, 1.5),
        ({"a": "100000 100000", "a/b": "400000 100000"}, 1.0),  # a parent is tighter
        ({"a": "max 100000", "a/b": "max 100000"}, None),
        ({"a": None, "a/b": None}, None),
    ],
)
def test_the_tightest_cgroup_quota_counts(tmp_path, limits, expected):
    root, membership = _cgroup(tmp_path, limits)
    assert cgroup_cpu_quota(root, membership) == expected


def test_cgroup_v1_only_means_no_quota(tmp_path):
    membership = tmp_path / "membership"
    membership.write_text("4:memory:/x\n1:cpu:/\n")
    assert cgroup_cpu_quota(tmp_path, membership) is None


def test_the_default_jobs_never_exceed_the_cpus_this_process_may_use():
    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))


def test_the_input_size_is_estimated_for_the_progress_bar(tmp_path):
    (tmp_path / "export.csv").write_text("id,sex\na,female\nb,male\nc,male\n")
    (tmp_path / "list.yaml").write_text("- id: d\n  sex: male\n- id: e\n  sex: female\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "f.yaml").write_text("id: f\n")
    (tmp_path / "folder" / "g.json").write_text('{"id": "g"}')
    assert estimated_cases([tmp_path / "export.csv"]) == 3
    assert estimated_cases([tmp_path / "list.yaml"]) == 2
    assert estimated_cases([tmp_path]) == 3 + 2 + 2
    assert estimated_cases([tmp_path / "missing.yaml"]) is None


@pytest.mark.parametrize(
    "cpus, busy, expected",
    [(2, 0, 2), (2, 1, 1), (2, 5, 1), (1, 0, 1), (8, 2, 6), (8, 0, 8)],
)
def test_the_default_jobs_leave_out_the_cpus_other_work_keeps_busy(cpus, busy, expected):
    assert default_jobs(cpus, busy) == expected


def test_busy_cpus_leaves_this_process_out():
    assert 0 <= busy_cpus() < 10_000
