"""The one thing setup.cfg cannot say: the migrations (``alembic/`` at the top of the
repository, where Alembic's tools look) ship inside the wheel as the package
``absensi_migrations``, so an installed release migrates without a checkout beside it."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["webapp*", "wsgate*", "tasks*", "realtime*"])
    + ["absensi_migrations"],
    package_dir={"absensi_migrations": "alembic"},
    # package data of every package, absensi_migrations included: setup.cfg
)
