"""E-commerce items for the single-table ``demo-ecommerce-freetier`` design, from a seed.

Users, products, orders and order lines (:func:`ecommerce_items`). Numbers are
``int`` or :class:`~decimal.Decimal`, never ``float``, so the items can be written
with the boto3 *resource* API as they are and compare equal to what DynamoDB
returns. The same seed gives the same items for a given Python version.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from helpers.logfile_data import DEFAULT_SEED

_FIRST_NAMES = ("Ana", "Binh", "Chloe", "Dmitri", "Emeka", "Farah", "Goro", "Hana", "Ivo", "Lan")


_LAST_NAMES = ("Nguyen", "Silva", "Okafor", "Tanaka", "Novak", "Haddad", "Larsen", "Tran", "Moreau")


_CITIES = (
    ("Seattle", "WA", "98101"),
    ("Austin", "TX", "73301"),
    ("Denver", "CO", "80202"),
    ("Boston", "MA", "02108"),
    ("Portland", "OR", "97201"),
)


_STREETS = ("Pine St", "Oak Ave", "Market St", "Lake Rd", "Hill Blvd", "River Ln")


_CATALOGUE = (
    ("laptop", "Ultrabook 14", "electronics", "Northwind", 650, 1400),
    ("monitor", "27-inch Monitor", "electronics", "Northwind", 180, 450),
    ("headphones", "Noise-Cancelling Headphones", "electronics", "Sonora", 120, 350),
    ("keyboard", "Mechanical Keyboard", "electronics", "Keyworks", 60, 180),
    ("mouse", "Wireless Mouse", "electronics", "Keyworks", 15, 60),
    ("book", "Single-Table Design in Practice", "books", "Streamline Press", 25, 55),
    ("novel", "The Last Shard", "books", "Streamline Press", 10, 25),
    ("backpack", "Travel Backpack", "outdoor", "Trailhead", 45, 140),
    ("bottle", "Insulated Bottle", "outdoor", "Trailhead", 12, 35),
    ("lamp", "Desk Lamp", "home", "Lumen", 20, 90),
    ("mug", "Ceramic Mug", "home", "Lumen", 8, 20),
    ("chair", "Ergonomic Chair", "home", "Sitwell", 150, 600),
)


_PRICE_BANDS = ((10, "0-10"), (50, "10-50"), (100, "50-100"), (500, "100-500"), (1000, "500-1000"))


ORDER_STATUSES = ("pending", "processing", "shipped")


_CENT = Decimal("0.01")


def price_band(price: Decimal) -> str:
    """Return the GSI2 price band of a product.

    Parameters
    ----------
    price : Decimal
        The product's price.

    Returns
    -------
    str
        ``"0-10"``, ``"10-50"``, ``"50-100"``, ``"100-500"``, ``"500-1000"`` or
        ``"1000-plus"`` (lower bound included, upper bound excluded).
    """
    for upper, label in _PRICE_BANDS:
        if price < upper:
            return label
    return "1000-plus"


def ecommerce_items(
    seed: int = DEFAULT_SEED, *, users: int = 6, products: int = 10, orders: int = 8
) -> list[dict[str, Any]]:
    """Generate sample items for the single-table ``demo-ecommerce-freetier`` design.

    ==================  ============  ========================  =====================
    item                PK / SK       GSI1PK / GSI1SK           GSI2PK / GSI2SK
    ==================  ============  ========================  =====================
    user profile        USER#id       USER#<email>              -
                        PROFILE       PROFILE
    product             PRODUCT#id    CATEGORY#<category>       PRICE#<band>
                        DETAILS       PRODUCT#id                PRODUCT#id
    order               ORDER#id      USER#<user id>            STATUS#<status>
                        DETAILS       ORDER#id                  ORDER#id
    order line          ORDER#id      PRODUCT#<product id>      -
                        ITEM#<pid>    ORDER#id
    ==================  ============  ========================  =====================

    So GSI1 answers "products of a category", "orders of a user", "orders of a
    product" and "user by e-mail"; GSI2 answers "orders by status" and
    "products by price band". Prices and totals are :class:`~decimal.Decimal`.

    Parameters
    ----------
    seed : int
        Same seed, same items.
    users : int
        Number of users (at most 10).
    products : int
        Number of products (at most 12).
    orders : int
        Number of orders; each has one to three order lines.

    Returns
    -------
    list of dict
        Users first, then products, then each order followed by its lines.

    Raises
    ------
    ValueError
        Asked for more users or products than the built-in lists hold, or for
        orders without users or products.

    Examples
    --------
    >>> items = ecommerce_items()
    >>> items[0]["PK"], items[0]["SK"]
    ('USER#user001', 'PROFILE')
    """
    if not 1 <= users <= len(_FIRST_NAMES):
        raise ValueError(f"users={users} must be between 1 and {len(_FIRST_NAMES)}")
    if not 1 <= products <= len(_CATALOGUE):
        raise ValueError(f"products={products} must be between 1 and {len(_CATALOGUE)}")
    if orders < 0:
        raise ValueError(f"orders={orders} is negative: pass 0 or more")
    rng = random.Random(f"ecommerce:{seed}")
    base = datetime(2025, 8, 11, 9, 0, 0)
    items: list[dict[str, Any]] = []

    user_ids = []
    for n, first in enumerate(rng.sample(_FIRST_NAMES, users), start=1):
        user_id = f"user{n:03d}"
        last = rng.choice(_LAST_NAMES)
        email = f"{first}.{last}@example.com".lower()
        city, state, zip_code = rng.choice(_CITIES)
        user_ids.append(user_id)
        items.append(
            {
                "PK": f"USER#{user_id}",
                "SK": "PROFILE",
                "GSI1PK": f"USER#{email}",
                "GSI1SK": "PROFILE",
                "user_id": user_id,
                "name": f"{first} {last}",
                "email": email,
                "phone": f"+1-555-01{n:02d}",
                "address": {
                    "street": f"{rng.randint(10, 999)} {rng.choice(_STREETS)}",
                    "city": city,
                    "state": state,
                    "zip": zip_code,
                },
                "created_at": _iso(base + timedelta(hours=n)),
                "status": "active",
            }
        )

    catalogue = []
    for stem, name, category, brand, low, high in rng.sample(_CATALOGUE, products):
        product_id = f"{stem}001"
        price = (Decimal(rng.randint(low, high)) - _CENT).quantize(_CENT)
        stock = rng.choice((0, *range(3, 120)))
        catalogue.append((product_id, price))
        items.append(
            {
                "PK": f"PRODUCT#{product_id}",
                "SK": "DETAILS",
                "GSI1PK": f"CATEGORY#{category}",
                "GSI1SK": f"PRODUCT#{product_id}",
                "GSI2PK": f"PRICE#{price_band(price)}",
                "GSI2SK": f"PRODUCT#{product_id}",
                "product_id": product_id,
                "name": name,
                "category": category,
                "brand": brand,
                "price": price,
                "stock": stock,
                "status": "active" if stock else "out_of_stock",
            }
        )

    for n in range(1, orders + 1):
        order_id = f"order{n:03d}"
        user_id = rng.choice(user_ids)
        status = rng.choices(ORDER_STATUSES, weights=(3, 2, 4))[0]
        lines = []
        for product_id, price in rng.sample(catalogue, min(rng.randint(1, 3), len(catalogue))):
            quantity = rng.choice((1, 1, 1, 2, 3))
            lines.append(
                {
                    "PK": f"ORDER#{order_id}",
                    "SK": f"ITEM#{product_id}",
                    "GSI1PK": f"PRODUCT#{product_id}",
                    "GSI1SK": f"ORDER#{order_id}",
                    "order_id": order_id,
                    "product_id": product_id,
                    "quantity": quantity,
                    "unit_price": price,
                    "total_price": price * quantity,
                }
            )
        items.append(
            {
                "PK": f"ORDER#{order_id}",
                "SK": "DETAILS",
                "GSI1PK": f"USER#{user_id}",
                "GSI1SK": f"ORDER#{order_id}",
                "GSI2PK": f"STATUS#{status}",
                "GSI2SK": f"ORDER#{order_id}",
                "order_id": order_id,
                "user_id": user_id,
                "status": status,
                "item_count": sum(line["quantity"] for line in lines),
                "total": sum((line["total_price"] for line in lines), Decimal("0.00")),
                "created_at": _iso(base + timedelta(days=1, minutes=37 * n)),
            }
        )
        items.extend(lines)
    return items


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
