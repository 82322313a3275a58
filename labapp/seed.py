"""The lab's data: users, products, orders, files. Secrets are woven in per start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rampart.labapp.canaries import LabSecrets

__all__ = [
    "ORDERS",
    "SECRET_NAMES",
    "documents",
    "orders",
    "products",
    "secret_rows",
    "uploads",
    "users",
    "write_files",
]

CUSTOMERS: tuple[tuple[str, str, str], ...] = (
    ("alice", "wonderland", "Alice Liddell"),
    ("bob", "builder123", "Bob Baumeister"),
    ("carol", "c4r0l-pass", "Carol Danvers"),
)
CATEGORIES = ("books", "electronics", "garden", "kitchen")
_PRODUCTS: tuple[tuple[str, str, float], ...] = (
    ("books", "The Pragmatic Gardener", 24.5),
    ("books", "Web Security Basics", 39.0),
    ("books", "Cooking for Engineers", 29.9),
    ("electronics", "USB-C Hub", 34.99),
    ("electronics", "Noise-cancelling Headphones", 199.0),
    ("electronics", "Mechanical Keyboard", 89.0),
    ("garden", "Watering Can", 12.0),
    ("garden", "Pruning Shears", 18.5),
    ("kitchen", "Cast Iron Pan", 45.0),
    ("kitchen", "Chef's Knife", 79.0),
)
ORDERS: tuple[tuple[int, str, int], ...] = (
    (1, "USB-C Hub", 2),
    (2, "Watering Can", 1),
    (3, "Web Security Basics", 1),
    (4, "Cast Iron Pan", 3),
    (5, "Mechanical Keyboard", 1),
    (6, "Pruning Shears", 4),
    (7, "Chef's Knife", 2),
)
SECRET_NAMES = ("stripe_live_key", "backup_password", "jwt_signing_key")
_DOCS = {
    "readme.txt": "Rampart Shop documentation.\nSee shipping.txt and returns.md.\n",
    "shipping.txt": "Standard shipping: 3-5 business days. Express: 1-2 business days.\n",
    "returns.md": "# Returns\n\nReturn any item within 30 days for a full refund.\n",
    "guides/getting-started.md": "# Getting started\n\nCreate an account, browse the catalogue, check out.\n",
}
_UPLOADS = {
    "report.pdf": b"%PDF-1.4\n% lab report\n",
    "logo.png": b"\x89PNG\r\n\x1a\nlab-logo",
    "invoice-1001.txt": b"Invoice 1001: USB-C Hub x2, 69.98 EUR\n",
}


def users(secrets: LabSecrets) -> list[dict[str, Any]]:
    admin = {
        "username": "admin",
        "password": secrets.admin_password,
        "name": "Shop Administrator",
        "role": "admin",
        "email": "admin@rampart.shop",
        "api_token": secrets.admin_profile,
    }
    customers = [
        {"username": u, "password": p, "name": n, "role": "customer", "email": f"{u}@example.com"}
        for u, p, n in CUSTOMERS
    ]
    return [admin, *customers]


def products(secrets: LabSecrets) -> list[dict[str, Any]]:
    items = [
        {"sku": f"SKU-{i:03d}", "category": c, "name": n, "price": p}
        for i, (c, n, p) in enumerate(_PRODUCTS, start=1)
    ]
    items.append(
        {
            "sku": "SKU-900",
            "category": "internal",
            "name": "Staff discount voucher",
            "price": 0.0,
            "voucher_code": secrets.internal_product,
        }
    )
    return items


def orders() -> list[tuple[int, str, int]]:
    return list(ORDERS)


def secret_rows(secrets: LabSecrets) -> list[tuple[int, str, str]]:
    rows = [(1, SECRET_NAMES[0], secrets.sql_table)]
    rows += [(i, name, f"not-the-canary-{i}") for i, name in enumerate(SECRET_NAMES[1:], start=2)]
    return rows


def documents() -> dict[str, str]:
    return dict(_DOCS)


def uploads() -> dict[str, bytes]:
    return dict(_UPLOADS)


def write_files(root: Path, secrets: LabSecrets) -> tuple[Path, Path]:
    """Lay out ``root``: ``docs/`` (L7), ``uploads/`` (L5) and ``secret.txt`` beside them.
    Returns ``(docs_dir, uploads_dir)``."""
    docs_dir, uploads_dir = root / "docs", root / "uploads"
    for rel, text in _DOCS.items():
        path = docs_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    uploads_dir.mkdir(parents=True, exist_ok=True)
    for name, data in _UPLOADS.items():
        (uploads_dir / name).write_bytes(data)
    (root / "secret.txt").write_text(f"backup encryption key: {secrets.secret_file}\n")
    return docs_dir, uploads_dir
