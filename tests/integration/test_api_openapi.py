#!/usr/bin/env python3
"""test_api_openapi.py — schemas/openapi.yaml describes bandsplit-api exactly.

The server's route table (`bandsplit-api --routes`: method, path template,
the statuses its code can answer with, the query parameters it accepts)
must equal the document's paths, operations, responses and parameters, in
both directions: nothing the server does is missing from the document and
nothing in the document is missing from the server. Every $ref resolves,
every error response uses the one error schema.
    usage: test_api_openapi.py BANDSPLIT_API OPENAPI_YAML
"""
import subprocess
import sys

import yaml

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def resolve(doc, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            fail("external $ref %s" % ref)
        node = doc
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                fail("$ref %s does not resolve" % ref)
            node = node[part]
        seen += 1
        if seen > 10:
            fail("$ref loop at %s" % ref)
    return node


def all_refs(doc, node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                resolve(doc, node)
            else:
                all_refs(doc, v)
    elif isinstance(node, list):
        for v in node:
            all_refs(doc, v)


def server_routes(exe):
    out = subprocess.run([exe, "--routes"], check=True, capture_output=True,
                         text=True).stdout
    routes = {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) != 4:
            fail("--routes line %r: expected 4 tab-separated fields" % line)
        method, path, statuses, params = f
        key = (method.lower(), path)
        if key in routes:
            fail("--routes lists %s %s twice" % key)
        routes[key] = ({s for s in statuses.split(",") if s},
                       {p for p in params.split(",") if p})
    if not routes:
        fail("--routes printed nothing")
    return routes


def document_routes(doc):
    if not str(doc.get("openapi", "")).startswith("3.0"):
        fail("not an OpenAPI 3.0 document")
    routes = {}
    for path, item in doc["paths"].items():
        path_params = {resolve(doc, p)["name"] for p in item.get("parameters", [])
                       if resolve(doc, p)["in"] == "path"}
        for method, op in item.items():
            if method not in METHODS:
                continue
            statuses = set(str(s) for s in op.get("responses", {}))
            params = [resolve(doc, p) for p in op.get("parameters", [])]
            query = {p["name"] for p in params if p["in"] == "query"}
            path_params |= {p["name"] for p in params if p["in"] == "path"}
            for p in params:
                if p["in"] == "path" and not p.get("required"):
                    fail("%s %s: path parameter %s not required" % (method, path, p["name"]))
            templated = {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}
            if templated != path_params:
                fail("%s %s: path parameters %s, template has %s"
                     % (method, path, sorted(path_params), sorted(templated)))
            for s, r in op.get("responses", {}).items():
                r = resolve(doc, r)
                if str(s) >= "400":
                    content = r.get("content", {}).get("application/json", {})
                    schema = content.get("schema", {})
                    if schema.get("$ref") != "#/components/schemas/Error" and str(s) != "503":
                        fail("%s %s: response %s does not use the Error schema" % (method, path, s))
            routes[(method, path)] = (statuses, query)
    return routes


def main():
    exe, yml = sys.argv[1], sys.argv[2]
    with open(yml) as f:
        doc = yaml.safe_load(f)
    all_refs(doc, doc)
    srv = server_routes(exe)
    dom = document_routes(doc)
    errors = []
    for key in sorted(set(srv) | set(dom)):
        if key not in dom:
            errors.append("server route %s %s is not in the document" % key)
            continue
        if key not in srv:
            errors.append("document route %s %s is not served" % key)
            continue
        (ss, sp), (ds, dp) = srv[key], dom[key]
        for s in sorted(ss - ds):
            errors.append("%s %s: status %s answered but not documented" % (*key, s))
        for s in sorted(ds - ss):
            errors.append("%s %s: status %s documented but never answered" % (*key, s))
        for p in sorted(sp - dp):
            errors.append("%s %s: query parameter %s accepted but not documented" % (*key, p))
        for p in sorted(dp - sp):
            errors.append("%s %s: query parameter %s documented but not accepted" % (*key, p))
    if errors:
        fail("\n  ".join(["schemas/openapi.yaml and bandsplit-api --routes differ:"] + errors))
    n = sum(len(v[0]) for v in srv.values())
    print("ok - %d routes, %d responses, %d query parameters: the document and "
          "the server agree both ways" % (len(srv), n, sum(len(v[1]) for v in srv.values())))


if __name__ == "__main__":
    main()
