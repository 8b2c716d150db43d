"""Where results go: the Store interface, and LocalStore, a folder laid out like the bucket
(for `npm run local`). Needs no third-party package; S3 (boto3) loads only when used."""

from __future__ import annotations

import os
import shutil
from typing import Dict, List, Protocol

from .contract import VARS
from .errors import StorageError


class LocalStore:
    """A folder laid out like the bucket (inputs/, results/, logs/), for local runs."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def url(self, key: str) -> str:
        return self.path(key)

    def check_credentials(self) -> None:
        return None

    def get(self, key: str, dest: str) -> None:
        src = self.path(key)
        if not os.path.isfile(src):
            raise StorageError(f"no file {src}: put it there first, or fix the key")
        try:
            shutil.copyfile(src, dest)
        except OSError as err:
            raise StorageError(f"cannot copy {src}: {err}") from None

    def put(self, src: str, key: str, content_type: str) -> None:
        dest = self.path(key)
        part = dest + ".part"
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(src, part)
            os.replace(part, dest)
        except OSError as err:
            raise StorageError(f"cannot write {dest}: {err}") from None

    def list(self, prefix: str) -> List[str]:
        base = self.path(prefix.rstrip("/"))
        keys = []
        for folder, _dirs, files in os.walk(base):
            for name in files:
                rel = os.path.relpath(os.path.join(folder, name), self.root)
                keys.append(rel.replace(os.sep, "/"))
        return sorted(keys)


class Store(Protocol):
    """What run_job needs of a bucket; S3Store and LocalStore provide it."""

    def url(self, key: str) -> str: ...

    def check_credentials(self) -> None: ...

    def get(self, key: str, dest: str) -> None: ...

    def put(self, src: str, key: str, content_type: str) -> None: ...

    def list(self, prefix: str) -> List[str]: ...


def make_store(env: Dict[str, str]) -> Store:
    """LocalStore when the local root variable is set, else S3 (boto3 is imported only
    then, so local runs need no package)."""
    local_root = env.get(VARS.local_root)
    if local_root:
        return LocalStore(local_root)
    from .s3_store import make_s3_store

    return make_s3_store(env)
