#!/usr/bin/env python3
"""A stand-in for the services Tollgate calls, on loopback, for scripts/api-fuzz.sh.

- OpenAI-compatible (base URL `http://127.0.0.1:PORT/v1`):
  `POST /v1/chat/completions` answers one completion with `usage` as plain JSON, or, when the
  request has `"stream": true`, server-sent events: two content chunks, a final chunk with
  `usage` and `data: [DONE]`; `GET /v1/models` lists the models.
- Stripe (API base `http://127.0.0.1:PORT`): `POST /v1/customers`, `/v1/checkout/sessions` and
  `/v1/billing_portal/sessions` answer Stripe-shaped objects (as
  crates/adapters/stripe/src/fixtures.rs has them), so the billing routes answer 201.

Anything else is a 404 JSON error. Standard library only. Usage:
`fake_upstream.py PORT_FILE` binds a free port and writes it to PORT_FILE once it listens.
"""

import json
import os
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = ["gpt-4o-mini", "gpt-4o"]
CHECKOUT_URL = "https://checkout.stripe.com/c/pay/cs_test_fuzz"
PORTAL_URL = "https://billing.stripe.com/p/session/test_fuzz"


def completion(model, prompt_tokens=12, completion_tokens=5):
    return {
        "id": "chatcmpl-fuzz",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the fake upstream."},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chunk(model, delta, finish_reason=None):
    return {
        "id": "chatcmpl-fuzz",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def customer(form):
    organization = form.get("metadata[organization_id]", [""])[0]
    return {
        "id": "cus_fuzz",
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": 1680893993,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": None,
        "invoice_prefix": "0759376C",
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {"organization_id": organization},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def checkout_session(form):
    return {
        "id": "cs_test_fuzz",
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": 2000,
        "amount_total": 2000,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": None,
        "client_reference_id": form.get("client_reference_id", [None])[0],
        "consent": None,
        "consent_collection": None,
        "created": 1679600215,
        "currency": "usd",
        "custom_fields": [],
        "custom_text": {
            "shipping_address": None,
            "submit": None,
            "after_submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": "cus_fuzz",
        "customer_creation": None,
        "customer_details": None,
        "customer_email": None,
        "expires_at": 1679686615,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": None,
        "metadata": {},
        "mode": "subscription",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": "https://app.example.com/billing?success=1",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": CHECKOUT_URL,
    }


def portal_session(form):
    return {
        "id": "bps_fuzz",
        "object": "billing_portal.session",
        "configuration": "bpc_fuzz",
        "created": 1680210639,
        "customer": form.get("customer", ["cus_fuzz"])[0],
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": "https://app.example.com/billing",
        "url": PORTAL_URL,
    }


STRIPE = {
    "/v1/customers": customer,
    "/v1/checkout/sessions": checkout_session,
    "/v1/billing_portal/sessions": portal_session,
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self):
        self.send_json(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in MODELS]
            self.send_json(200, {"object": "list", "data": data})
        else:
            self.not_found()

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        raw = self.read_body()
        if path == "/v1/chat/completions":
            try:
                request = json.loads(raw or b"{}")
            except ValueError:
                request = {}
            if not isinstance(request, dict):
                request = {}
            model = request.get("model") if isinstance(request.get("model"), str) else MODELS[0]
            if request.get("stream") is True:
                self.stream(model)
            else:
                self.send_json(200, completion(model))
        elif path in STRIPE:
            form = urllib.parse.parse_qs(raw.decode(errors="replace"))
            self.send_json(200, STRIPE[path](form))
        else:
            self.not_found()

    def stream(self, model):
        usage = completion(model)["usage"]
        events = [
            chunk(model, {"role": "assistant", "content": "Hello"}),
            chunk(model, {"content": " there."}, finish_reason="stop"),
            {**chunk(model, {}), "choices": [], "usage": usage},
        ]
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_file = sys.argv[1]
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
