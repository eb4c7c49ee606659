"""``absensi holidays import`` as a real process."""
import sqlite3

import pytest

from tests.integration.test_cli import absensi, cli_env  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def count(cli_env, where="1=1"):  # noqa: F811
    path = cli_env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT count(*) FROM holidays WHERE {where}").fetchone()[0]


def test_import_adds_only_missing_days_and_cuti_bersama_on_request(cli_env, tmp_path):  # noqa: F811
    # Given a fresh database: the migration seeded the national holidays already
    assert absensi("db", "upgrade", env=cli_env).returncode == 0
    seeded = count(cli_env)
    assert seeded == 34

    # When the import runs again, nothing changes (idempotent)
    again = absensi("holidays", "import", env=cli_env)
    assert again.returncode == 0, again.stderr
    assert "0 hari libur ditambahkan" in again.stdout
    # ...with cuti bersama, the 8 collective leave days of 2026 are added
    joint = absensi("holidays", "import", "--with-cuti-bersama", env=cli_env)
    assert "8 hari libur ditambahkan" in joint.stdout
    assert count(cli_env, "date = '2026-12-24'") == 1
    # ...and a file of next year's decree adds its days
    extra = tmp_path / "2028.csv"
    extra.write_text("tanggal,nama,jenis,status\n2028-01-01,Tahun Baru 2028 Masehi,"
                     "libur_nasional,resmi\n", encoding="utf-8")
    assert "1 hari libur ditambahkan" in absensi("holidays", "import", "--file", str(extra),
                                                 env=cli_env).stdout
    assert count(cli_env) == seeded + 9
