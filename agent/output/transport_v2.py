"""The v2 transport: ``POST /api/v2/write`` through the official influxdb-client.

For InfluxDB 2.x, 3.x and Cloud installations that hand out org/bucket/token credentials
rather than v1 ones. See `agent.output.transports` for the contract it implements.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import urllib3.exceptions
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException
from influxdb_client.service.write_service import WriteService

from agent.output.transports import (
    WriteError,
    checked_base_url,
    error_from_response,
    server_message,
)
from agent.secret import Secret


class V2Transport:
    """``POST /api/v2/write`` through influxdb-client (InfluxDB 2.x, 3.x, Cloud).

    influxdb-client is synchronous (urllib3), so each write runs in a worker thread. Its own
    retries are off (``retries=False``): the writer retries, with the buffer's knowledge of
    what was delivered. The body goes through the client's `WriteService` as it is, because
    `WriteApi.write` re-splits records and cannot send an already gzipped body.
    """

    def __init__(
        self,
        url: str,
        org: str,
        bucket: str,
        token: Secret,
        *,
        verify_tls: bool = True,
        ca_bundle: Path | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if not org or not bucket:
            raise ValueError("org and bucket must not be empty")
        base = checked_base_url(url)
        self._url = str(base)
        self._org = org
        self._bucket = bucket
        self._secrets = (token,)
        self._client = InfluxDBClient(
            url=self._url,
            token=token.reveal(),
            org=org,
            timeout=int(timeout_s * 1000),
            verify_ssl=verify_tls,
            ssl_ca_cert=str(ca_bundle) if ca_bundle is not None else None,
            retries=False,
            enable_gzip=False,  # the writer compresses, when asked to
        )
        self._service = WriteService(self._client.api_client)  # type: ignore[no-untyped-call]

    def __repr__(self) -> str:
        return f"V2Transport(url={self._url!r}, org={self._org!r}, bucket={self._bucket!r})"

    def _post(self, body: bytes, gzipped: bool) -> None:
        encoding = {"content_encoding": "gzip"} if gzipped else {}
        self._service.post_write(  # type: ignore[no-untyped-call]
            org=self._org,
            bucket=self._bucket,
            body=body,
            precision="ns",
            content_type="text/plain; charset=utf-8",
            **encoding,
        )

    async def write(self, body: bytes, *, gzipped: bool) -> None:
        try:
            await asyncio.to_thread(self._post, body, gzipped)
        except ApiException as error:
            status = error.status
            if not status:  # the client reports TLS failures as status 0, with no response
                raise WriteError(None, server_message(str(error.reason)), True) from None
            raise error_from_response(
                status, error.body or error.reason or "", error.headers, self._secrets
            ) from None
        except urllib3.exceptions.HTTPError as error:
            raise WriteError(None, f"{type(error).__name__}: {error}", True) from None

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
