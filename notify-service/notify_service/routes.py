"""HTTP routes of the notify service: templates and the outbox."""

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from tollgate_common.service import get_db, get_redis, settings

from . import outbox, templates
from .merge import CATALOGUE, MERGE_FIELDS
from .schemas import (
    MergeFieldListSchema,
    OutboxMessageSchema,
    OutboxPageSchema,
    OutboxQuerySchema,
    PreviewRequestSchema,
    PreviewSchema,
    RetryQueuedSchema,
    TemplateListSchema,
    TemplateSchema,
)

bp = Blueprint("templates", __name__, url_prefix="/v1", description="Email templates and the outbox")


@bp.route("/templates")
class TemplateList(MethodView):
    @bp.response(200, TemplateListSchema)
    def get(self) -> dict[str, Any]:
        """List every template: the shipped defaults and the operator's own."""
        with get_db().session() as session:
            names = templates.list_template_names(session)
            found = [templates.find_template(session, name) for name in names]
        return {"templates": [template for template in found if template is not None]}


@bp.route("/templates/<string:name>")
class TemplateItem(MethodView):
    @bp.response(200, TemplateSchema)
    def get(self, name: str) -> templates.TemplateContent:
        """Return a template: the operator's version, or the shipped default."""
        with get_db().session() as session:
            return templates.load_template(session, name)

    @bp.arguments(TemplateSchema)
    @bp.response(200, TemplateSchema)
    def put(self, body: dict[str, Any], name: str) -> templates.TemplateContent:
        """Save a template after checking its syntax and that it names only known merge fields."""
        with get_db().session() as session:
            return templates.save_template(
                session, name, body["subject"], body["text"], body["html"], body["recipient"]
            )


@bp.route("/templates/<string:name>/preview")
class TemplatePreview(MethodView):
    @bp.arguments(PreviewRequestSchema)
    @bp.response(200, PreviewSchema)
    def post(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        """Render a template with a client's current data, without sending it."""
        with get_db().session() as session:
            template = templates.load_template(session, name)
        notifier = outbox.build_notifier(settings(), get_db())
        return notifier.preview(template, body["client_id"], body["extra"])


@bp.route("/merge-fields")
class MergeFields(MethodView):
    @bp.response(200, MergeFieldListSchema)
    def get(self) -> dict[str, Any]:
        """List the merge fields templates may use."""
        patterns = [label for _, label in CATALOGUE.patterns]
        return {"fields_": MERGE_FIELDS, "patterns": patterns}


@bp.route("/outbox")
class Outbox(MethodView):
    @bp.arguments(OutboxQuerySchema, location="query")
    @bp.response(200, OutboxPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List outbox messages, newest first, optionally only those with one status."""
        rows, total = outbox.list_outbox(get_db(), query.get("status"), query["limit"], query["offset"])
        return {"items": rows, "total": total, "limit": query["limit"], "offset": query["offset"]}


@bp.route("/outbox/<string:key>")
class OutboxItem(MethodView):
    @bp.response(200, OutboxMessageSchema)
    def get(self, key: str) -> Any:
        """Return one outbox message by its idempotency key."""
        return outbox.get_message(get_db(), key)


@bp.route("/outbox/<string:key>/retry")
class OutboxRetry(MethodView):
    @bp.response(202, RetryQueuedSchema)
    def post(self, key: str) -> dict[str, str]:
        """Queue one more attempt of a failed message now."""
        return {"key": key, "job_id": outbox.retry_now(get_db(), get_redis(), key)}
