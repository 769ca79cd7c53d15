"""``trackhub api``, ``trackhub deliver`` and ``trackhub seller ...``: the seller side."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime

from hub import topics
from hub.cli_support import CliError, load_settings, prepare_kafka
from hub.seller_records import publish_records, read_records
from hub.settings import Settings
from schemas.sellers import ApiKey, Seller, hash_key, new_api_key

SELLER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def cmd_api(args: argparse.Namespace) -> int:
    settings = load_settings()
    prepare_kafka(settings)
    from hub.api_server import run_api

    run_api(settings)
    return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    settings = load_settings()
    prepare_kafka(settings)
    from hub.delivery import run_delivery

    return run_delivery(settings)


def cmd_seller_create(args: argparse.Namespace) -> int:
    """Create a seller (or reuse it) and print a new API key, shown this once."""
    settings = load_settings()
    prepare_kafka(settings)
    seller_id: str = args.seller_id
    if not SELLER_ID.match(seller_id):
        raise CliError(f"seller id {seller_id!r}: letters, digits and . _ : - (at most 128)")
    now = datetime.now(UTC)
    sellers = read_records(settings, topics.SELLERS, Seller)
    if seller_id not in sellers:
        seller = Seller(seller_id=seller_id, name=args.name or seller_id, created_at=now)
        publish_records(settings, topics.SELLERS, [(seller_id, seller)])
    _print_new_key(settings, seller_id, now)
    return 0


def cmd_seller_create_key(args: argparse.Namespace) -> int:
    settings = load_settings()
    prepare_kafka(settings)
    if args.seller_id not in read_records(settings, topics.SELLERS, Seller):
        raise CliError(f"no seller {args.seller_id!r}: create it with `trackhub seller create`")
    _print_new_key(settings, args.seller_id, datetime.now(UTC))
    return 0


def cmd_seller_revoke_key(args: argparse.Namespace) -> int:
    settings = load_settings()
    prepare_kafka(settings)
    keys = read_records(settings, topics.API_KEYS, ApiKey)
    key = keys.get(args.key_id)
    if key is None:
        raise CliError(f"no API key {args.key_id!r}")
    if key.revoked_at is None:
        revoked = key.model_copy(update={"revoked_at": datetime.now(UTC)})
        publish_records(settings, topics.API_KEYS, [(key.key_id, revoked)])
    print(f"revoked {key.key_id} of seller {key.seller_id}")
    return 0


def _print_new_key(settings: Settings, seller_id: str, now: datetime) -> None:
    key_id, full_key = new_api_key()
    record = ApiKey(
        key_id=key_id, seller_id=seller_id, secret_sha256=hash_key(full_key), created_at=now
    )
    publish_records(settings, topics.API_KEYS, [(key_id, record)])
    print(f"seller {seller_id}: API key {key_id} (shown once, keep it secret):")
    print(full_key)


def add_seller_commands(commands: argparse._SubParsersAction) -> None:
    commands.add_parser(
        "api",
        help="serve the seller API (REST, SSE, OpenAPI) on TRACKHUB_API_PORT",
        description="Serve the seller API. Its read model follows the hub's topics.",
    ).set_defaults(handler=cmd_api)
    commands.add_parser(
        "deliver",
        help="deliver alerts to sellers' webhook subscriptions (signed, with retries)",
        description="Deliver alerts.v1 to matching subscriptions as Standard Webhooks.",
    ).set_defaults(handler=cmd_deliver)
    seller = commands.add_parser(
        "seller", help="manage sellers and their API keys", description="Sellers and API keys."
    )
    actions = seller.add_subparsers(dest="seller_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="create a seller and print its first API key (shown once)"
    )
    create.add_argument("seller_id", help="the seller id plans and alerts carry")
    create.add_argument("--name", default=None, help="display name (default: the id)")
    create.set_defaults(handler=cmd_seller_create)
    create_key = actions.add_parser("create-key", help="print another API key for a seller")
    create_key.add_argument("seller_id")
    create_key.set_defaults(handler=cmd_seller_create_key)
    revoke = actions.add_parser("revoke-key", help="revoke an API key by its id (key_...)")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=cmd_seller_revoke_key)
