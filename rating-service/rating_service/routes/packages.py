"""Package routes: a package links WHMCS products to their rating settings."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from .. import packages
from ..schemas import PackagePatchSchema, PackageQuerySchema, PackageSchema
from . import get_db

bp = Blueprint("packages", __name__, url_prefix="/v1/packages", description="Rating settings per WHMCS product")


@bp.route("")
class Packages(MethodView):
    @bp.arguments(PackageSchema)
    @bp.response(201, PackageSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a package; every field is checked and a bad one is named in a 422."""
        with get_db().session() as session:
            return packages.package_view(packages.create_package(session, data))

    @bp.arguments(PackageQuerySchema, location="query")
    @bp.response(200, PackageSchema(many=True))
    def get(self, query: dict[str, Any]) -> Any:
        """List packages, or the one linked to `product_id`."""
        with get_db().session() as session:
            return [packages.package_view(package) for package in packages.list_packages(session, query["product_id"])]


@bp.route("/<id:package_id>")
class PackageById(MethodView):
    @bp.response(200, PackageSchema)
    def get(self, package_id: int) -> Any:
        """Show one package."""
        with get_db().session() as session:
            return packages.package_view(packages.get_package(session, package_id))

    @bp.arguments(PackagePatchSchema(partial=True))
    @bp.response(200, PackageSchema)
    def patch(self, changes: dict[str, Any], package_id: int) -> Any:
        """Change the fields sent; the package is validated again as a whole."""
        with get_db().session() as session:
            return packages.package_view(packages.update_package(session, package_id, changes))
