"""Small controller machinery: API clients, informers (list + watch with re-list), work queues.

Objects are handled as plain dicts (camelCase, as the API serves them) for core and custom
resources alike. Informers survive apiserver restarts: any watch error leads to a re-list after a
short backoff, a 410 Gone to an immediate re-list.
"""

import datetime
import heapq
import logging
import threading
import time

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

log = logging.getLogger("labsim")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_client(kubeconfig):
    """A fresh ApiClient (one per watch thread so streams do not starve the pool)."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    cfg.connection_pool_maxsize = 16
    cfg.retries = False
    return client.ApiClient(cfg)


def to_dict(api_client, obj):
    return obj if isinstance(obj, dict) else api_client.sanitize_for_serialization(obj)


def key_of(obj):
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return "%s/%s" % (ns, meta["name"]) if ns else meta["name"]


class Resource:
    """How to list/watch one kind: core (CoreV1/AppsV1 method names) or custom (group/version)."""

    def __init__(self, kind, plural, group=None, version=None, list_method=None,
                 label_selector=None, namespace=None):
        self.kind, self.plural, self.group, self.version = kind, plural, group, version
        self.list_method = list_method
        self.label_selector = label_selector
        self.namespace = namespace

    def lister(self, api_client):
        kw = {}
        if self.label_selector:
            kw["label_selector"] = self.label_selector
        if self.group:
            api = client.CustomObjectsApi(api_client)
            if self.namespace:
                return api.list_namespaced_custom_object, dict(
                    kw, group=self.group, version=self.version, namespace=self.namespace,
                    plural=self.plural)
            return api.list_cluster_custom_object, dict(
                kw, group=self.group, version=self.version, plural=self.plural)
        api_cls, method = self.list_method
        return getattr(api_cls(api_client), method), kw


class Informer:
    """Keeps a cache of one resource and calls handlers(event_type, obj) on every change."""

    def __init__(self, kubeconfig, resource):
        self.kubeconfig = kubeconfig
        self.resource = resource
        self.cache = {}
        self.lock = threading.Lock()
        self.handlers = []
        self.synced = threading.Event()
        self.stopped = threading.Event()

    def add_handler(self, fn):
        self.handlers.append(fn)

    def list(self):
        with self.lock:
            return list(self.cache.values())

    def get(self, key):
        with self.lock:
            return self.cache.get(key)

    def _emit(self, etype, obj):
        for fn in self.handlers:
            try:
                fn(etype, obj)
            except Exception:  # a handler bug must not kill the informer
                log.exception("handler for %s failed", self.resource.kind)

    def _relist(self, api_client):
        fn, kw = self.resource.lister(api_client)
        result = to_dict(api_client, fn(**kw))
        items = result.get("items") or []
        fresh = {}
        for item in items:
            item.setdefault("kind", self.resource.kind)
            fresh[key_of(item)] = item
        with self.lock:
            gone = [o for k, o in self.cache.items() if k not in fresh]
            self.cache = fresh
        for obj in gone:
            self._emit("DELETED", obj)
        for obj in fresh.values():
            self._emit("SYNC", obj)
        self.synced.set()
        return result["metadata"].get("resourceVersion")

    def run(self):
        backoff = 0.5
        name = self.resource.plural
        failing_since = None
        while not self.stopped.is_set():
            api_client = None
            problem = None
            try:
                api_client = new_client(self.kubeconfig)
                rv = self._relist(api_client)
                if failing_since is not None:
                    log.info("watch %s re-established after %.1fs", name,
                             time.monotonic() - failing_since)
                    failing_since = None
                backoff = 0.5
                while not self.stopped.is_set():
                    fn, kw = self.resource.lister(api_client)
                    w = watch.Watch()
                    for ev in w.stream(fn, resource_version=rv, timeout_seconds=240,
                                       allow_watch_bookmarks=True, **kw):
                        etype, obj = ev["type"], to_dict(api_client, ev["object"])
                        rv = obj.get("metadata", {}).get("resourceVersion", rv)
                        if etype == "BOOKMARK":
                            continue
                        obj.setdefault("kind", self.resource.kind)
                        with self.lock:
                            if etype == "DELETED":
                                self.cache.pop(key_of(obj), None)
                            else:
                                self.cache[key_of(obj)] = obj
                        self._emit(etype, obj)
            except ApiException as exc:
                if exc.status == 410:
                    log.info("watch %s expired (410), re-listing", name)
                    continue
                problem = "%s %s" % (exc.status, exc.reason)
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                problem = type(exc).__name__
            finally:
                if api_client is not None:
                    api_client.close()
            if problem and failing_since is None:
                failing_since = time.monotonic()
                log.warning("watch %s interrupted (%s); re-listing with backoff up to 5s",
                            name, problem)
            self.stopped.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def start(self):
        threading.Thread(target=self.run, name="watch-" + self.resource.plural,
                         daemon=True).start()


class WorkQueue:
    """De-duplicating queue of keys with delayed adds."""

    def __init__(self):
        self.cond = threading.Condition()
        self.ready = []
        self.queued = set()
        self.delayed = []  # heap of (due, seq, key)
        self.seq = 0

    def add(self, key, delay=0.0):
        with self.cond:
            if delay > 0:
                self.seq += 1
                heapq.heappush(self.delayed, (time.monotonic() + delay, self.seq, key))
            elif key not in self.queued:
                self.queued.add(key)
                self.ready.append(key)
            self.cond.notify()

    def get(self):
        with self.cond:
            while True:
                t = time.monotonic()
                while self.delayed and self.delayed[0][0] <= t:
                    _, _, key = heapq.heappop(self.delayed)
                    if key not in self.queued:
                        self.queued.add(key)
                        self.ready.append(key)
                if self.ready:
                    key = self.ready.pop(0)
                    self.queued.discard(key)
                    return key
                timeout = self.delayed[0][0] - t if self.delayed else None
                self.cond.wait(timeout)


class Controller:
    """Base: informers feed keys into a queue; one worker thread calls reconcile(key)."""

    name = "controller"
    resync_seconds = 30.0

    def __init__(self, ctx):
        self.ctx = ctx
        self.queue = WorkQueue()
        self.api_client = new_client(ctx.kubeconfig)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.log = logging.getLogger("labsim." + self.name)
        self.failures = {}

    def informers(self):
        return []

    def resync_keys(self):
        return []

    def reconcile(self, key):
        raise NotImplementedError

    def _resync(self):
        while True:
            time.sleep(self.resync_seconds)
            for key in self.resync_keys():
                self.queue.add(key)

    def _work(self):
        while True:
            key = self.queue.get()
            try:
                self.reconcile(key)
                self.failures.pop(key, None)
            except Exception as exc:  # retry with backoff; log once per streak
                if isinstance(exc, ApiException) and exc.status == 403 and \
                        "being terminated" in str(exc.body):
                    continue  # its namespace is going away, and the object with it
                n = self.failures.get(key, 0) + 1
                self.failures[key] = n
                if isinstance(exc, (ApiException, urllib3.exceptions.HTTPError, OSError)):
                    self.log.warning("reconcile %s failed (%s), retry %d", key,
                                     getattr(exc, "reason", None) or exc, n)
                else:
                    self.log.exception("reconcile %s failed, retry %d", key, n)
                self.queue.add(key, min(0.25 * 2 ** n, 10.0))

    def start(self):
        threading.Thread(target=self._work, name=self.name, daemon=True).start()
        threading.Thread(target=self._resync, name=self.name + "-resync", daemon=True).start()


def ignore_404(fn, *args, **kwargs):
    """Call fn; return None when the API answers 404 (object already gone)."""
    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def set_condition(conditions, ctype, status, reason="", message="", extra=None):
    """Upsert a condition; keep lastTransitionTime when status does not change."""
    conditions = [dict(c) for c in conditions or []]
    for cond in conditions:
        if cond.get("type") == ctype:
            if cond.get("status") != status:
                cond["lastTransitionTime"] = now()
            cond.update(status=status, reason=reason, message=message, **(extra or {}))
            return conditions
    cond = {"type": ctype, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": now()}
    cond.update(extra or {})
    conditions.append(cond)
    return conditions
