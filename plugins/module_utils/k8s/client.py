# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's Kubernetes API client: kubernetes.core's connection options on the standard
library, without importing the kubernetes package.

Importing ``kubernetes`` costs about 0.3 s of CPU in every module process; a converged site.yml ran
thirteen of them for a few JSON requests each. ``connect(module)`` reads the options as kubernetes.core
does (kubernetes.core plugins/module_utils/k8s/client.py ``_create_auth_spec`` and
``_create_configuration``): each option, else its ``K8S_AUTH_*`` environment variable; ``host`` with
``api_key`` (or a client certificate) needs nothing else; ``kubeconfig`` or ``context`` loads that
kubeconfig; otherwise the in-cluster ServiceAccount, else ``$KUBECONFIG`` or ``~/.kube/config``;
the options then override what the kubeconfig says.

What this client does not do itself it hands to kubernetes.core's own client (``CoreClient``, the
same interface): username and password, proxies and proxy headers, ``persist_config``, kubeconfig
users with an ``exec`` or ``auth-provider`` plugin or impersonation, clusters with ``proxy-url`` or
``tls-server-name``, and a ``$KUBECONFIG`` list of several files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import socket
import ssl
import tempfile
import threading

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError

import http.client as httplib
from urllib.parse import urlencode, urlsplit, quote

IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_TIMEOUT = 60
# kubernetes.core's option -> the name its K8S_AUTH_* variable may also use (args_common.AUTH_ARG_MAP)
_ENV_ALIASES = {"validate_certs": "verify_ssl", "ca_cert": "ssl_ca_cert", "client_cert": "cert_file",
                "client_key": "key_file"}
_BOOL_OPTIONS = ("validate_certs", "persist_config")
_AUTH_NAMES = ("kubeconfig", "context", "host", "api_key", "username", "password", "validate_certs", "ca_cert",
               "client_cert", "client_key", "proxy", "no_proxy", "proxy_headers", "persist_config",
               "impersonate_user", "impersonate_groups")
# the Python client's names of query parameters (kubernetes/dynamic/client.py request)
_QUERY_NAMES = {"label_selector": "labelSelector", "field_selector": "fieldSelector",
                "resource_version": "resourceVersion", "allow_watch_bookmarks": "allowWatchBookmarks",
                "timeout_seconds": "timeoutSeconds", "field_manager": "fieldManager",
                "field_validation": "fieldValidation", "dry_run": "dryRun"}


class ApiError(ModuleError):
    """An HTTP error answer of the API server: ``status``, ``reason``, ``body`` (its Status JSON) and
    ``message`` (the Status' message, else the reason)."""

    def __init__(self, status, reason, body=""):
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        message = reason
        try:
            message = json.loads(body).get("message") or reason
        except (TypeError, ValueError, AttributeError):
            pass
        super(ApiError, self).__init__("HTTP %s %s: %s" % (status, reason, message), status=status, reason=reason)
        self.body = body
        self.message = message

    def status_details(self):
        """The ``details`` of the server's Status answer ({} when there are none)."""
        try:
            return json.loads(self.body).get("details") or {}
        except (TypeError, ValueError, AttributeError):
            return {}


class ConnectionFailed(ModuleError):
    """The API server could not be reached (``sent`` False: the request cannot have reached it), or
    the connection dropped (``sent`` True). ``server``: its URL."""

    def __init__(self, msg, sent=True, server=None, retry=True):
        super(ConnectionFailed, self).__init__(msg)
        self.sent = sent
        self.server = server
        self.retry = retry  # False: trying again cannot help (a certificate that does not verify)


class ResourceNotFound(ModuleError):
    """The cluster does not serve that apiVersion and kind."""


class Unsupported(Exception):
    """Options this client leaves to kubernetes.core's (the reason is the message)."""


class Resource(object):
    """Where a kind lives: its plural ``name`` and whether it is ``namespaced``."""

    def __init__(self, api_version, kind, name, namespaced):
        self.api_version = api_version
        self.kind = kind
        self.name = name
        self.namespaced = namespaced

    def path(self, name=None, namespace=None):
        base = "/api/v1" if self.api_version == "v1" else "/apis/" + self.api_version
        if self.namespaced and namespace:
            base += "/namespaces/" + quote(namespace, safe="")
        base += "/" + self.name
        return base + ("/" + quote(name, safe="") if name else "")


def query_pairs(query):
    """``query`` (a list of pairs or a dict, Python-client names allowed) as the API's (name, value)
    pairs: API names, booleans as true/false, None values left out."""
    pairs = query.items() if isinstance(query, dict) else (query or [])
    return [(_QUERY_NAMES.get(key, key), ("true" if value else "false") if isinstance(value, bool) else value)
            for key, value in pairs if value is not None]


def query_string(query):
    """``query`` (as ``query_pairs`` takes it) as a URL query."""
    out = query_pairs(query)
    return ("?" + urlencode(out)) if out else ""


# ---------------------------------------------------------------------------------------------
# Configuration: kubernetes.core's options, the kubeconfig, the in-cluster ServiceAccount
# ---------------------------------------------------------------------------------------------

def auth_options(params, environ=None):
    """The connection options: each from ``params``, else from its K8S_AUTH_* variable
    (kubernetes.core client.py _create_auth_spec and _create_headers)."""
    environ = os.environ if environ is None else environ
    auth = {}
    for name in _AUTH_NAMES:
        if name == "proxy_headers":
            continue
        value = params.get(name)
        if value is None:
            value = environ.get("K8S_AUTH_" + name.upper())
            if value is None and name in _ENV_ALIASES:
                value = environ.get("K8S_AUTH_" + _ENV_ALIASES[name].upper())
            if value is not None and name in _BOOL_OPTIONS:
                value = value.lower() not in ("0", "false", "no")
            if value is not None and name == "impersonate_groups":
                value = [g for g in value.split(",") if g]
        if value is not None and value != "" and value != []:
            auth[name] = value
    headers = params.get("proxy_headers") or {}
    if any(v for v in headers.values()) or any(k.startswith("K8S_AUTH_PROXY_HEADERS_") for k in environ):
        auth["proxy_headers"] = headers or True
    return auth


class Config(object):
    """Where and how to connect: ``server``, ``token``, TLS material, impersonation."""

    def __init__(self):
        self.server = None
        self.token = None
        self.verify = True
        self.ca_file = None
        self.ca_data = None
        self.cert_file = None
        self.key_file = None
        self.cert_data = None
        self.key_data = None
        self.impersonate_user = None
        self.impersonate_groups = []
        self.source = None

    def ssl_context(self):
        """The TLS context: the given CA only (the system's are loaded, 25 ms, only without one)."""
        if not self.verify:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            try:
                ctx = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
            except (IOError, OSError, ssl.SSLError) as exc:
                raise ModuleError("Cannot load the Kubernetes API's CA bundle (%s): %s" % (self.source, exc))
        if self.cert_file or self.cert_data:
            _load_cert_chain(ctx, self)
        return ctx


def _load_cert_chain(ctx, cfg):
    """The client certificate and key; in-memory ones go through a private temporary file that is
    removed at once (ssl can only read them from a file)."""
    paths, made = [], []
    try:
        for path, data in ((cfg.cert_file, cfg.cert_data), (cfg.key_file, cfg.key_data)):
            if data is not None:
                fd, path = tempfile.mkstemp(prefix="k8s-client-")
                made.append(path)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            paths.append(path)
        ctx.load_cert_chain(paths[0], paths[1])
    except (IOError, OSError, ssl.SSLError) as exc:
        raise ModuleError("Cannot load the Kubernetes client certificate and key (%s): %s" % (cfg.source, exc))
    finally:
        for path in made:
            os.unlink(path)


def _b64(value, what, source):
    try:
        return base64.b64decode(value)
    except (TypeError, ValueError):
        raise ModuleError("%s in %s is not base64." % (what, source))


def _named(entries, name, what, source):
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry.get(what) or {}
    raise ModuleError("The kubeconfig %s has no %s named %r." % (source, what, name))


def load_kubeconfig(kubeconfig, context=None, environ=None):
    """A Config from a kubeconfig (a path or a dict) and context (default: its current-context)."""
    import yaml  # the modules' requirements: PyYAML, as kubernetes.core's

    environ = os.environ if environ is None else environ
    base_dir = None
    if isinstance(kubeconfig, dict):
        doc, source = kubeconfig, "given as a dict"
    else:
        if kubeconfig is None:
            kubeconfig = environ.get("KUBECONFIG") or "~/.kube/config"
            if os.pathsep in kubeconfig.strip(os.pathsep):
                raise Unsupported("$KUBECONFIG names several files")
            kubeconfig = kubeconfig.strip(os.pathsep)
        source = os.path.expanduser(kubeconfig)
        base_dir = os.path.dirname(os.path.abspath(source))
        try:
            with open(source) as handle:
                doc = yaml.safe_load(handle) or {}
        except (IOError, OSError) as exc:
            raise ModuleError("Cannot read the kubeconfig %s: %s. Give the kubeconfig option (llm_serving_kubeconfig) or "
                              "host and api_key (K8S_AUTH_HOST, K8S_AUTH_API_KEY)." % (source, exc.strerror or exc))
        except yaml.YAMLError as exc:
            raise ModuleError("The kubeconfig %s is not valid YAML: %s" % (source, exc))
    if not isinstance(doc, dict):
        raise ModuleError("The kubeconfig %s is not a mapping." % source)
    context = context or doc.get("current-context")
    if not context:
        raise ModuleError("The kubeconfig %s has no current-context: give the context option." % source)
    ctx = _named(doc.get("contexts"), context, "context", source)
    cluster = _named(doc.get("clusters"), ctx.get("cluster"), "cluster", source)
    user = _named(doc.get("users"), ctx.get("user"), "user", source) if ctx.get("user") else {}

    def path(value):
        value = os.path.expanduser(value)
        return value if os.path.isabs(value) or base_dir is None else os.path.join(base_dir, value)

    for key in ("exec", "auth-provider", "username", "password", "as", "as-groups"):
        if user.get(key):
            raise Unsupported("its user has %s" % key)
    for key in ("proxy-url", "tls-server-name"):
        if cluster.get(key):
            raise Unsupported("its cluster has %s" % key)
    cfg = Config()
    cfg.source = "kubeconfig %s, context %s" % (source, context)
    cfg.server = cluster.get("server")
    cfg.verify = not cluster.get("insecure-skip-tls-verify", False)
    if cluster.get("certificate-authority-data"):
        cfg.ca_data = _b64(cluster["certificate-authority-data"], "certificate-authority-data", source).decode("ascii", "replace")
    elif cluster.get("certificate-authority"):
        cfg.ca_file = path(cluster["certificate-authority"])
    if user.get("token"):
        cfg.token = user["token"]
    elif user.get("tokenFile"):
        cfg.token = _read(path(user["tokenFile"]), "the tokenFile of " + cfg.source)
    if user.get("client-certificate-data"):
        cfg.cert_data = _b64(user["client-certificate-data"], "client-certificate-data", source)
    elif user.get("client-certificate"):
        cfg.cert_file = path(user["client-certificate"])
    if user.get("client-key-data"):
        cfg.key_data = _b64(user["client-key-data"], "client-key-data", source)
    elif user.get("client-key"):
        cfg.key_file = path(user["client-key"])
    return cfg


def _read(path, what):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError) as exc:
        raise ModuleError("Cannot read %s (%s): %s" % (what, path, exc.strerror or exc))


def in_cluster(environ=None, directory=IN_CLUSTER_DIR):
    """The pod's ServiceAccount (kubernetes config/incluster_config.py), or None outside a pod."""
    environ = os.environ if environ is None else environ
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    token_file = os.path.join(directory, "token")
    if not host or not port or not os.path.exists(token_file):
        return None
    cfg = Config()
    cfg.source = "the pod's ServiceAccount"
    cfg.server = "https://%s:%s" % ("[%s]" % host if ":" in host else host, port)
    cfg.token = _read(token_file, "the ServiceAccount token")
    ca = os.path.join(directory, "ca.crt")
    cfg.ca_file = ca if os.path.exists(ca) else None
    return cfg


def load_config(params, environ=None, in_cluster_dir=IN_CLUSTER_DIR):
    """The Config kubernetes.core would build from the module's ``params`` (see the module
    docstring); raises Unsupported for what only kubernetes.core's client does."""
    environ = os.environ if environ is None else environ
    auth = auth_options(params, environ)
    for key in ("username", "password", "proxy", "no_proxy", "proxy_headers", "persist_config"):
        if auth.get(key):
            raise Unsupported("the %s option" % key)
    if auth.get("host") and (auth.get("api_key") or (auth.get("client_cert") and auth.get("client_key"))):
        cfg = Config()
        cfg.source = "host %s" % auth["host"]
    elif auth.get("kubeconfig") or auth.get("context"):
        cfg = load_kubeconfig(auth.get("kubeconfig"), auth.get("context"), environ)
    else:
        cfg = in_cluster(environ, in_cluster_dir) or load_kubeconfig(None, None, environ)
    if auth.get("host"):
        cfg.server = auth["host"].rstrip("/")
    if auth.get("api_key"):
        cfg.token = auth["api_key"]
    if "validate_certs" in auth:
        cfg.verify = auth["validate_certs"]
    if auth.get("ca_cert"):
        cfg.ca_file, cfg.ca_data = auth["ca_cert"], None
    if auth.get("client_cert"):
        cfg.cert_file, cfg.cert_data = auth["client_cert"], None
    if auth.get("client_key"):
        cfg.key_file, cfg.key_data = auth["client_key"], None
    cfg.impersonate_user = auth.get("impersonate_user")
    cfg.impersonate_groups = auth.get("impersonate_groups") or []
    if not cfg.server:
        raise ModuleError("No Kubernetes API server in %s: give the host option (K8S_AUTH_HOST)." % cfg.source)
    return cfg


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------

class KubeClient(object):
    """JSON requests to the API server over keep-alive connections (one per thread), discovery of
    where a kind lives (cached for the module run), and streamed responses for watches."""

    def __init__(self, config, timeout=DEFAULT_TIMEOUT):
        self.config = config
        self.timeout = timeout
        url = urlsplit(config.server)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ModuleError("The Kubernetes API server %r (%s) is not an http(s) URL." % (config.server, config.source))
        self.scheme = url.scheme
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self.ssl = config.ssl_context() if url.scheme == "https" else None
        self._local = threading.local()
        self._resources = {}
        self._lock = threading.Lock()

    # -- connections ---------------------------------------------------------------------------

    def _new_connection(self, timeout):
        if self.scheme == "https":
            return httplib.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ssl)
        return httplib.HTTPConnection(self.host, self.port, timeout=timeout)

    def _send(self, conn, method, path, query, data, content_type, accept="application/json"):
        conn.putrequest(method, self.prefix + path + query_string(query), skip_accept_encoding=True)
        conn.putheader("Accept", accept)
        conn.putheader("User-Agent", "private-ai-llm-serving")
        if self.config.token:
            conn.putheader("Authorization", "Bearer %s" % self.config.token)
        if self.config.impersonate_user:
            conn.putheader("Impersonate-User", self.config.impersonate_user)
        for group in self.config.impersonate_groups:
            conn.putheader("Impersonate-Group", group)
        if data is not None:
            conn.putheader("Content-Type", content_type or "application/json")
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        return conn.getresponse()

    def _fail_connect(self, exc):
        return ConnectionFailed("Cannot reach the Kubernetes API at %s (%s): %s" % (
            self.config.server, self.config.source, exc or type(exc).__name__), sent=True, server=self.config.server)

    def request(self, method, path, query=None, body=None, content_type=None, timeout=None, raw=False):
        """One request; returns the JSON answer (a dict, {} for an empty body), or with ``raw`` its
        bytes. Raises ApiError for an HTTP error answer, ConnectionFailed when the server cannot be
        reached (``sent`` False: the request cannot have reached it) or the connection dropped."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        for attempt in (0, 1):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self._local.conn = self._new_connection(timeout or self.timeout)
            else:  # every request its own timeout: a short one (a readiness probe) must not stay
                conn.timeout = timeout or self.timeout
                if conn.sock is not None:
                    conn.sock.settimeout(conn.timeout)
            try:
                resp = self._send(conn, method, path, query, data, content_type)
                data_in = resp.read()
            except (httplib.HTTPException, socket.error, ssl.SSLError) as exc:
                conn.close()
                self._local.conn = None
                # a kept-alive connection the server closed meanwhile: once more on a new one
                if reused and attempt == 0 and isinstance(exc, (httplib.RemoteDisconnected, BrokenPipeError,
                                                                ConnectionResetError)):
                    continue
                if isinstance(exc, ssl.SSLCertVerificationError):
                    raise ConnectionFailed("The Kubernetes API at %s (%s) presented a certificate that does not "
                                           "verify: %s. Give its CA (ca_cert, or certificate-authority in the "
                                           "kubeconfig)." % (self.config.server, self.config.source, exc.verify_message),
                                           sent=False, server=self.config.server, retry=False)
                failure = self._fail_connect(exc)
                failure.sent = not isinstance(exc, (ConnectionRefusedError, socket.gaierror))
                raise failure
            if resp.will_close:
                conn.close()
                self._local.conn = None
            if resp.status >= 400:
                raise ApiError(resp.status, resp.reason, data_in)
            if raw:
                return data_in
            return json.loads(data_in) if data_in.strip() else {}
        raise AssertionError("unreachable")  # pragma: no cover

    def stream(self, path, query=None, timeout=None):
        """The lines of a streamed GET (a watch), on a connection of its own, closed at the end."""
        conn = self._new_connection(timeout or self.timeout)
        try:
            try:
                resp = self._send(conn, "GET", path, query, None, None)
            except (httplib.HTTPException, socket.error, ssl.SSLError) as exc:
                raise self._fail_connect(exc)
            if resp.status >= 400:
                raise ApiError(resp.status, resp.reason, resp.read())
            while True:
                try:
                    line = resp.readline()
                except (httplib.HTTPException, socket.error, ssl.SSLError) as exc:
                    raise self._fail_connect(exc)
                if not line:
                    # readline ends quietly when the connection drops inside a chunked answer:
                    # only a final chunk (chunk_left None) or a complete body is the server's end
                    if (resp.chunked and resp.chunk_left is not None) or resp.length:
                        raise self._fail_connect("the stream was cut")
                    return
                yield line
        finally:
            conn.close()

    def after_fork(self):
        """In a forked child: new connections of its own (the parent's sockets stay the parent's); the
        TLS material is in memory, so no file is needed. Returns the files to remove at exit: none."""
        self._local = threading.local()
        return []

    def close(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- discovery -----------------------------------------------------------------------------

    def resource(self, api_version, kind):
        """Where ``kind`` of ``api_version`` lives (one discovery request per group version)."""
        with self._lock:
            listing = self._resources.get(api_version)
        if listing is None:
            path = "/api/v1" if api_version == "v1" else "/apis/" + api_version
            try:
                listing = self.request("GET", path).get("resources") or []
            except ApiError as exc:
                if exc.status != 404:
                    raise
                listing = []
            with self._lock:
                self._resources[api_version] = listing
        for item in listing:
            if item.get("kind") == kind and "/" not in item.get("name", "/"):
                return Resource(api_version, kind, item["name"], bool(item.get("namespaced")))
        raise ResourceNotFound("The cluster does not serve %s %s: is its CRD or operator installed?" % (api_version, kind))


class CoreClient(object):
    """The same interface on kubernetes.core's client, for what ``KubeClient`` leaves to it."""

    def __init__(self, params):
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

        # by keyword, not module=: kubernetes.core reads module.requires and server_side_dry_run,
        # which only its AnsibleK8SModule has (our dry run is the Cluster's own query)
        params = dict((k, v) for k, v in params.items() if v is not None and k in _AUTH_NAMES)
        try:
            self.k8s = get_api_client(**params)
        except CoreException as exc:
            raise ConnectionFailed("Could not connect to the Kubernetes API: %s" % exc)
        self.api = self.k8s.client.client
        self.timeout = DEFAULT_TIMEOUT

    def resource(self, api_version, kind):
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            res = self.k8s.resource(kind, api_version)
        except ResourceNotFoundError:
            raise ResourceNotFound("The cluster does not serve %s %s: is its CRD or operator installed?" % (api_version, kind))
        return Resource(api_version, kind, res.name, res.namespaced)

    def _call(self, method, path, query, body, content_type, timeout):
        from kubernetes.client.rest import ApiException
        import urllib3

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            return self.api.call_api(path, method, {}, query_pairs(query), headers, body=body, post_params=[], files={},
                                     auth_settings=["BearerToken"], _preload_content=False,
                                     _return_http_data_only=True, _request_timeout=timeout or self.timeout)
        except ApiException as exc:
            raise ApiError(exc.status or 0, exc.reason, exc.body or "")
        except (urllib3.exceptions.MaxRetryError, urllib3.exceptions.NewConnectionError,
                urllib3.exceptions.ConnectTimeoutError) as exc:
            raise ConnectionFailed("Cannot reach the Kubernetes API at %s: %s" % (self.k8s.configuration.host, exc),
                                   sent=False, server=self.k8s.configuration.host)
        except (urllib3.exceptions.HTTPError, socket.error) as exc:
            raise ConnectionFailed("Cannot reach the Kubernetes API at %s: %s" % (self.k8s.configuration.host, exc),
                                   sent=True, server=self.k8s.configuration.host)

    def request(self, method, path, query=None, body=None, content_type=None, timeout=None, raw=False):
        resp = self._call(method, path, query, body, content_type, timeout)
        data = resp.data
        if raw:
            return data
        return json.loads(data) if data and data.strip() else {}

    def stream(self, path, query=None, timeout=None):
        import urllib3

        resp = self._call("GET", path, query, None, None, timeout)
        try:
            buf = b""
            for chunk in resp.stream(amt=None, decode_content=False):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    yield line + b"\n"
            if buf:
                yield buf
        except (urllib3.exceptions.HTTPError, socket.error) as exc:
            raise ConnectionFailed("The connection to the Kubernetes API dropped: %s" % exc)
        finally:
            resp.release_conn()

    def after_fork(self):
        """In a forked child: a REST client of its own, and private copies of the credential files
        kubernetes' kubeconfig loader wrote (it deletes its own when the module exits). Returns the
        copies, to remove at exit."""
        import shutil
        import tempfile
        from kubernetes.client import rest

        configuration, copies = self.api.configuration, []
        for attr in ("ssl_ca_cert", "cert_file", "key_file"):
            path = getattr(configuration, attr, None)
            if path and os.path.isfile(path):
                handle, copy = tempfile.mkstemp(prefix="llm-serving-lock-")
                os.close(handle)
                shutil.copyfile(path, copy)
                setattr(configuration, attr, copy)
                copies.append(copy)
        self.api.rest_client = rest.RESTClientObject(configuration)
        return copies

    def close(self):
        pass


def connect(module, timeout=DEFAULT_TIMEOUT, params=None):
    """The client for ``module``'s connection options (or ``params``): ``KubeClient``, or
    kubernetes.core's for what only it supports (see the module docstring)."""
    params = module.params if params is None else params
    try:
        return KubeClient(load_config(params), timeout=timeout)
    except Unsupported as why:
        module.debug("kubernetes.core's client, for %s" % why)
    try:
        import kubernetes  # noqa: F401 pylint: disable=unused-import
    except ImportError:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("kubernetes", reason="for these connection options"))
    return CoreClient(params)
