"""Versions, resources, limits and describe (global, basic, full): what a client learns of the org."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response

from local.salesforce_emulator.routes.composite import COLLECTION_LIMIT
from local.salesforce_emulator.schema import FieldDef, ObjectDef
from local.salesforce_emulator.web import DATA, Route, object_or_404, sf_json

if TYPE_CHECKING:
    from local.salesforce_emulator.server import SalesforceEmulator

_SOAP_TYPE = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}

# Fixed allowances the emulator reports beside the daily API requests it does enforce.
_OTHER_LIMITS = {
    "DailyBulkV2QueryJobs": 10000,
    "DailyBulkV2QueryFileStorageMB": 976562,
    "DailyBulkApiBatches": 15000,
    "DataStorageMB": 5,
    "FileStorageMB": 20,
    "ConcurrentAsyncGetReportInstances": 200,
}


class DescribeRoutes:
    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/services/data", self.versions),
            Route("GET", DATA, self.resources, "resources"),
            Route("GET", f"{DATA}/limits", self.limits, "limits"),
            Route("GET", f"{DATA}/sobjects", self.describe_global, "describe_global"),
            Route("GET", f"{DATA}/sobjects/<obj_name>", self.sobject_basic, "sobject_basic"),
            Route("GET", f"{DATA}/sobjects/<obj_name>/describe", self.describe, "describe"),
        ]

    def versions(self) -> Response:
        return sf_json(
            [
                {"label": f"API {n}.0", "url": f"/services/data/v{n}.0", "version": f"{n}.0"}
                for n in range(31, 63)
            ]
        )

    def resources(self, version: str) -> Response:
        base = f"/services/data/{version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
        return sf_json({n: f"{base}/{n}" for n in names})

    def limits(self, version: str) -> Response:
        used, most = self.emu.store.api_used(), self.emu.daily_api_limit
        body = {"DailyApiRequests": {"Max": most, "Remaining": max(most - used, 0)}}
        body.update({name: {"Max": n, "Remaining": n} for name, n in _OTHER_LIMITS.items()})
        return sf_json(body)

    def describe_global(self, version: str) -> Response:
        objects = self.emu.schema.objects.values()
        return sf_json(
            {
                "encoding": "UTF-8",
                "maxBatchSize": COLLECTION_LIMIT,
                "sobjects": [object_summary(version, o) for o in objects],
            }
        )

    def sobject_basic(self, version: str, obj_name: str) -> Response:
        obj = object_or_404(self.emu.schema, obj_name)
        return sf_json({"objectDescribe": object_summary(version, obj), "recentItems": []})

    def describe(self, version: str, obj_name: str) -> Response:
        obj = object_or_404(self.emu.schema, obj_name)
        body = object_summary(version, obj)
        body["fields"] = [describe_field(f) for f in obj.fields.values()]
        body["childRelationships"] = [
            {"childSObject": o.name, "field": f.name, "relationshipName": o.name.removesuffix("__c") + "s"}
            for o in self.emu.schema.objects.values()
            for f in o.fields.values()
            if f.reference_to and f.reference_to.lower() == obj.name.lower()
        ]
        return sf_json(body)


def object_summary(version: str, obj: ObjectDef) -> dict[str, Any]:
    base = f"/services/data/{version}/sobjects/{obj.name}"
    return {
        "name": obj.name,
        "label": obj.label or obj.name,
        "labelPlural": (obj.label or obj.name) + "s",
        "keyPrefix": obj.key_prefix,
        "custom": obj.is_custom,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


def describe_field(f: FieldDef) -> dict[str, Any]:
    return {
        "name": f.name,
        "label": f.label or f.name,
        "type": f.type,
        "soapType": _SOAP_TYPE.get(f.type, "xsd:string"),
        "length": f.length or 0,
        "precision": f.precision or 0,
        "scale": f.scale or 0,
        "digits": f.precision if f.type == "int" else 0,
        "nillable": f.nillable,
        "createable": f.createable,
        "updateable": f.updateable,
        "defaultedOnCreate": f.type == "boolean" or f.name in ("Id", "CreatedDate", "Name"),
        "defaultValue": f.default if f.type == "boolean" else None,
        "externalId": f.external_id,
        "unique": f.unique,
        "idLookup": f.name == "Id" or f.external_id,
        "custom": f.is_custom,
        "nameField": f.name == "Name",
        "filterable": True,
        "sortable": f.type != "textarea",
        "caseSensitive": False,
        "restrictedPicklist": f.restricted,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in f.picklist_values
        ],
        "referenceTo": [f.reference_to] if f.reference_to else [],
        "relationshipName": f.relationship_name,
        "cascadeDelete": False,
        "calculated": False,
    }
