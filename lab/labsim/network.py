"""The cluster network, as seen from outside the cluster: an HTTP(S) proxy on loopback.

The lab has no pod network, cluster DNS, kube-proxy or OpenShift router. A client that sets this
proxy (http://127.0.0.1:<LAB_PROXY_PORT>) reaches the predictor pods the way a client on a real
cluster does, decided by the real objects:

- `<service>.<namespace>.svc[.cluster.local]:<port>`: cluster DNS and kube-proxy. A headless
  Service (clusterIP None, OpenShift AI's default for predictors) resolves to the ready pod IPs of
  its EndpointSlices and the connection goes to <pod IP>:<port> as given; a ClusterIP Service maps
  its `port` to the EndpointSlice port of the same name.
- `<host>` of an admitted Route: the OpenShift router (HAProxy). TLS `edge` and `reencrypt` are
  terminated here with a certificate for the host from the lab CA (the router's wildcard
  certificate); `reencrypt` then opens TLS to the endpoint (the kube-rbac-proxy of an
  InferenceService with auth), verified against the lab CA as the router trusts the service CA.
  Plain routes are served on port 80; the Route's `to` Service and `port.targetPort` select the
  endpoints. An unknown host gets the router's 503 "Application is not available".

A <pod IP>:<port> where the pod's simulator listens (pods.PodRuntime.endpoints) is a connection;
anything else is what the kernel would answer, "connection refused", sent back as HTTP 502 as a
proxy does. One request per connection (`Connection: close`).
"""

import datetime
import ipaddress
import logging
import os
import socket
import ssl
import threading
import time

log = logging.getLogger("labsim.network")

ROUTER_503 = ("<html><body><h1>Application is not available</h1><p>The application is currently "
              "not serving requests at this endpoint. It may not have been started or is still "
              "starting.</p></body></html>")
MAX_HEAD = 65536


class Resolution(Exception):
    """The proxy's own answer: an HTTP status and a body."""

    def __init__(self, status, reason, body):
        super().__init__(body)
        self.status, self.reason, self.body = status, reason, body


def refused(host, port):
    return Resolution(502, "Bad Gateway", "dial tcp %s:%s: connect: connection refused" % (host, port))


class Backend(int):
    """A loopback port the router reaches over TLS (reencrypt), verifying ``server_name``."""

    def __new__(cls, port, server_name):
        obj = int.__new__(cls, port)
        obj.server_name = server_name
        return obj


class Network:
    """Resolves (host, port, tls) to a simulator port from the informers' caches."""

    def __init__(self, ctx, endpoints):
        self.ca_file = os.path.join(getattr(ctx, "state_dir", ""), "pki", "ca.crt")
        self.routes = ctx.informer("routes")
        self.services = ctx.informer("services")
        self.slices = ctx.informer("endpointslices")
        self.endpoints = endpoints  # () -> {(pod ip, port): sim port}

    def informers(self):
        return [self.routes, self.services, self.slices]

    def _ready_ips(self, namespace, service):
        """(ip, {port name: port}) of the ready endpoints of a Service, from its EndpointSlices."""
        out = []
        for sl in self.slices.list():
            meta = sl["metadata"]
            if meta.get("namespace") != namespace or \
                    (meta.get("labels") or {}).get("kubernetes.io/service-name") != service:
                continue
            ports = {p.get("name") or "": p.get("port") for p in sl.get("ports") or []}
            for ep in sl.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is False:
                    continue
                for ip in ep.get("addresses") or []:
                    out.append((ip, ports))
        return out

    def _connect(self, ip, port):
        sim = self.endpoints().get((ip, int(port)))
        if sim is None:
            raise refused(ip, port)
        return sim

    @staticmethod
    def _service_name(host):
        labels = host.lower().rstrip(".").split(".")
        if len(labels) >= 3 and labels[2] == "svc" and \
                (len(labels) == 3 or ".".join(labels[3:]) == "cluster.local"):
            return labels[1], labels[0]
        return None

    def is_cluster_address(self, host):
        """A Service name or a pod IP (not a Route host)."""
        return self._service_name(host) is not None or _is_ip(host)

    def resolve(self, host, port, tls):
        host = host.lower().rstrip(".")
        svc = self._service_name(host)
        if svc:
            return self._service(svc[0], svc[1], host, port)
        if _is_ip(host):
            return self._connect(host, port)
        return self._route(host, port, tls)

    def _service(self, namespace, name, host, port):
        svc = self.services.get("%s/%s" % (namespace, name))
        if svc is None:
            raise Resolution(502, "Bad Gateway", "dial tcp: lookup %s: no such host" % host)
        spec = svc.get("spec") or {}
        ready = self._ready_ips(namespace, name)
        if spec.get("clusterIP") == "None":  # headless: DNS answers the pod IPs themselves
            if not ready:
                raise Resolution(502, "Bad Gateway", "dial tcp: lookup %s: no such host" % host)
            return self._connect(ready[0][0], port)
        for sp in spec.get("ports") or []:
            if int(sp.get("port", 0)) == int(port):
                for ip, ports in ready:
                    target = ports.get(sp.get("name") or "")
                    if target:
                        return self._connect(ip, target)
                break
        raise refused(spec.get("clusterIP") or host, port)

    def _route(self, host, port, tls):
        for route in self.routes.list():
            spec, status = route.get("spec") or {}, route.get("status") or {}
            hosts = {i.get("host") for i in status.get("ingress") or []
                     if any(c.get("type") == "Admitted" and c.get("status") == "True"
                            for c in i.get("conditions") or [])}
            if host not in hosts:
                continue
            termination = (spec.get("tls") or {}).get("termination")
            if tls and termination not in ("edge", "reencrypt"):
                raise Resolution(503, "Service Unavailable", ROUTER_503)
            if not tls and termination:
                policy = (spec.get("tls") or {}).get("insecureEdgeTerminationPolicy") or "None"
                if policy == "Redirect":
                    raise Resolution(302, "Found", "https://%s/" % host)
                if policy != "Allow":
                    raise Resolution(503, "Service Unavailable", ROUTER_503)
            ns = route["metadata"]["namespace"]
            svc_name = (spec.get("to") or {}).get("name")
            svc = self.services.get("%s/%s" % (ns, svc_name)) or {}
            want = (spec.get("port") or {}).get("targetPort")
            for ip, ports in self._ready_ips(ns, svc_name):
                target = _route_target(svc, ports, want)
                if target:
                    try:
                        port = self._connect(ip, target)
                    except Resolution:
                        continue
                    if termination == "reencrypt":
                        # the router opens TLS to the endpoint and trusts the service CA for the
                        # Service's name (the lab CA signs the pods' serving certificates)
                        return Backend(port, "%s.%s.svc" % (svc_name, ns))
                    return port
            raise Resolution(503, "Service Unavailable", ROUTER_503)
        raise Resolution(503, "Service Unavailable", ROUTER_503)


def _route_target(svc, ports, want):
    """The endpoint port a Route's port.targetPort (a Service targetPort name or number) selects."""
    if want is None:
        return next(iter(ports.values()), None)
    if isinstance(want, int) or str(want).isdigit():
        return int(want)
    if want in ports:
        return ports[want]
    if want == "http" and "" in ports:  # see odh_model_controller.desired_route
        return ports[""]
    for sp in (svc.get("spec") or {}).get("ports") or []:
        if sp.get("targetPort") == want or sp.get("name") == want:
            return ports.get(sp.get("name") or "")
    return None


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class Certs:
    """Leaf certificates for Route hosts, signed by the lab CA, cached as SSL contexts."""

    def __init__(self, state_dir):
        self.pki = os.path.join(state_dir, "pki")
        self.contexts = {}
        self.lock = threading.Lock()

    def context(self, host):
        with self.lock:
            ctx = self.contexts.get(host)
            if ctx is None:
                ctx = self.contexts[host] = self._make(host)
            return ctx

    def _make(self, host):
        cert, key = issue(self.pki, [host])
        folder = os.path.join(self.pki, "router")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        path = os.path.join(folder, host + ".pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + cert)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(path)
        return ctx


def issue(pki, hosts):
    """(certificate PEM, key PEM) of a serving certificate for ``hosts``, signed by the lab CA in
    ``pki`` (what the router's default certificate and OpenShift's service-ca give on a cluster)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    with open(os.path.join(pki, "ca.key"), "rb") as fh:
        ca_key = serialization.load_pem_private_key(fh.read(), None)
    with open(os.path.join(pki, "ca.crt"), "rb") as fh:
        ca = x509.load_pem_x509_certificate(fh.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64])]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def _read_head(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            return None, b""
        buf += chunk
        if len(buf) > MAX_HEAD:
            raise Resolution(431, "Request Header Fields Too Large", "request head too large")
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def _headers(lines):
    out = []
    for line in lines:
        if ":" in line:
            k, v = line.split(":", 1)
            out.append((k.strip(), v.strip()))
    return out


def _answer(sock, status, reason, body, extra=()):
    data = body.encode()
    head = ["HTTP/1.1 %d %s" % (status, reason), "Content-Type: text/plain; charset=utf-8",
            "Content-Length: %d" % len(data), "Connection: close"] + list(extra)
    if status == 302:
        head.append("Location: %s" % body)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)


class Proxy:
    """The forward proxy: absolute-form HTTP requests and CONNECT tunnels (TLS ends here)."""

    def __init__(self, network, certs, port):
        self.network, self.certs, self.port = network, certs, port
        self.server = None

    def start(self):
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", self.port))
        self.server.listen(128)
        threading.Thread(target=self._accept, name="proxy", daemon=True).start()
        log.info("cluster network proxy on 127.0.0.1:%d", self.port)

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(300)
        try:
            head, rest = _read_head(conn)
            if head is None:
                return
            lines = head.split("\r\n")
            method, target, _version = (lines[0].split(" ") + ["", ""])[:3]
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                if self.network.is_cluster_address(host):
                    # A TLS connection to a Service or pod reaches the pod as it is: plain HTTP
                    # there fails the client's handshake, as on a cluster.
                    sim_port = self.network.resolve(host, int(port or 443), False)
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    _relay(conn, socket.create_connection(("127.0.0.1", int(sim_port)), timeout=300))
                    return
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                tls = self.certs.context(host).wrap_socket(conn, server_side=True)
                head, rest = _read_head(tls)
                if head is None:
                    return
                lines = head.split("\r\n")
                method, path = lines[0].split(" ")[:2]
                self._forward(tls, method, path, lines[1:], rest, host, int(port or 443), True)
                return
            if not target.startswith("http://"):
                _answer(conn, 400, "Bad Request", "this is a proxy: send absolute-form requests")
                return
            hostport, _, path = target[len("http://"):].partition("/")
            host, _, port = hostport.partition(":")
            self._forward(conn, method, "/" + path, lines[1:], rest, host, int(port or 80), False)
        except Resolution as res:
            _safe(_answer, conn, res.status, res.reason, res.body)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.debug("proxy connection ended: %s", exc)
        finally:
            _safe(conn.close)

    def _forward(self, client, method, path, header_lines, rest, host, port, tls):
        headers = _headers(header_lines)
        length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
        if any(k.lower() == "transfer-encoding" for k, _ in headers):
            raise Resolution(411, "Length Required", "chunked request bodies are not supported")
        body = rest
        while len(body) < length:
            chunk = client.recv(min(65536, length - len(body)))
            if not chunk:
                return
            body += chunk
        try:
            sim_port = self.network.resolve(host, port, tls)
        except Resolution as res:
            _answer(client, res.status, res.reason, res.body)
            return
        t0 = time.monotonic()
        backend = socket.create_connection(("127.0.0.1", int(sim_port)), timeout=300)
        if isinstance(sim_port, Backend):
            backend = ssl.create_default_context(cafile=self.network.ca_file).wrap_socket(
                backend, server_hostname=sim_port.server_name)
        try:
            out = ["%s %s HTTP/1.1" % (method, path)]
            out += ["%s: %s" % (k, v) for k, v in headers
                    if k.lower() not in ("connection", "proxy-connection", "proxy-authorization",
                                         "keep-alive")]
            out.append("Connection: close")
            backend.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
            while True:
                chunk = backend.recv(65536)
                if not chunk:
                    break
                client.sendall(chunk)
        finally:
            backend.close()
        log.debug("%s %s%s -> :%d in %.3fs", method, host, path, sim_port, time.monotonic() - t0)


def _relay(a, b):
    """Copy bytes both ways between two plain sockets until either side closes."""
    def pump(src, dst):
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            _safe(dst.shutdown, socket.SHUT_WR)

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join(300)
    _safe(b.close)


def _safe(fn, *args):
    try:
        fn(*args)
    except (OSError, ssl.SSLError):
        pass
