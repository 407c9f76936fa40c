"""Databases and RabbitMQ virtual hosts created, and dropped, on this machine's servers."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from .machine import HOST, MACHINE


@dataclass
class Provisioner:
    """Creates and drops what a stack needs on this machine's servers."""

    run: Any  # harness.processes.run

    def database(self, kind: str, name: str, *, drop_only: bool = False) -> None:
        machine = MACHINE[kind]
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        create = f'CREATE DATABASE "{name}"'
        if kind == "postgresql":
            client = [shutil.which("psql") or "psql", "-h", HOST, "-p", str(machine.port)]
            client += ["-U", str(machine.user), "-d", "postgres", "-X", "-q"]
            statements = [drop] if drop_only else [drop, create]
            cmd = [*client, "-v", "ON_ERROR_STOP=1", *(f"-c{sql}" for sql in statements)]
        elif kind == "mysql":
            drop, create = (
                sql.replace('"', "`").replace(" WITH (FORCE)", "") for sql in (drop, create)
            )
            client = [shutil.which("mariadb") or shutil.which("mysql") or "mariadb", "-h", HOST]
            client += ["-P", str(machine.port), "-u", str(machine.user)]
            cmd = [*client, "-e", drop if drop_only else f"{drop}; {create}"]
        else:
            raise ValueError(f"cannot create {kind} databases")
        env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
        self.run(cmd, cwd=tempfile.gettempdir(), env=env, timeout=60, step=f"{kind} {name}")

    def vhost(self, name: str, *, delete: bool = False) -> None:
        ctl = shutil.which("rabbitmqctl") or "rabbitmqctl"
        if delete:
            self.run([ctl, "delete_vhost", name], cwd="/", timeout=60, check=False)
            return
        self.run([ctl, "add_vhost", name], cwd="/", timeout=60, check=False)
        permissions = [ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"]
        self.run(permissions, cwd="/", timeout=60, step=f"RabbitMQ vhost {name}")
