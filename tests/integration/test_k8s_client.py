"""The collection's Kubernetes client (plugins/module_utils/k8s/client.py) on the lab's real
kube-apiserver, for what the token kubeconfigs of the other suites do not reach: a client
certificate given in the kubeconfig (written to a private temporary file only while ssl loads it),
a kubeconfig user with an exec plugin (handed to kubernetes.core's client), a CA that does not
verify, and an API server that is not there."""

import base64
import datetime
import json
import os
import socket
import stat
import sys
from pathlib import Path

import pytest

import module_runner
from isvc_lab import lab  # noqa: F401 pylint: disable=unused-import

REPO = Path(__file__).resolve().parents[2]
LAB_STATE = Path(os.environ.get("LAB_STATE_DIR") or REPO / ".lab")
READ = "private_ai.llm_serving.k8s_read"


def b64(raw):
    return base64.b64encode(raw).decode()


def client_certificate(common_name, organization):
    """A client certificate the lab's apiserver accepts (its --client-ca-file is the lab CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pki = LAB_STATE / "pki"
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def lab_kubeconfig(lab):  # noqa: F811
    with open(lab["kubeconfig"]) as fh:
        import yaml
        return yaml.safe_load(fh)


def with_user(doc, user):
    doc = json.loads(json.dumps(doc))
    ctx = next(c for c in doc["contexts"] if c["name"] == doc["current-context"])["context"]
    next(u for u in doc["users"] if u["name"] == ctx["user"])["user"] = user
    return doc


def read(args, tmpdir=None):
    env = dict(os.environ)
    if tmpdir:
        os.environ["TMPDIR"] = str(tmpdir)
    try:
        return module_runner.run(READ, dict({"kind": "Namespace", "name": "default"}, **args), timeout=120)
    finally:
        os.environ.clear()
        os.environ.update(env)


def test_client_certificate_data_authenticates_and_leaves_no_file(lab, tmp_path):  # noqa: F811
    cert, key = client_certificate("it-client-cert", "system:masters")
    doc = with_user(lab_kubeconfig(lab), {"client-certificate-data": b64(cert), "client-key-data": b64(key)})
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = read({"kubeconfig": doc}, tmpdir=scratch)
    assert out["rc"] == 0, out
    assert [r["metadata"]["name"] for r in out["resources"]] == ["default"]
    assert list(scratch.iterdir()) == [], "the key must not stay on disk"


def test_client_certificate_files_relative_to_the_kubeconfig(lab, tmp_path):  # noqa: F811
    cert, key = client_certificate("it-client-files", "system:masters")
    (tmp_path / "c.crt").write_bytes(cert)
    (tmp_path / "c.key").write_bytes(key)
    os.chmod(tmp_path / "c.key", stat.S_IRUSR | stat.S_IWUSR)
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(with_user(lab_kubeconfig(lab), {"client-certificate": "c.crt", "client-key": "c.key"})))
    out = read({"kubeconfig": str(path), "kind": "Namespace", "name": None, "label_selectors": ["kubernetes.io/metadata.name=default"]})
    assert out["rc"] == 0, out
    assert [r["metadata"]["name"] for r in out["resources"]] == ["default"]


def test_an_exec_plugin_user_goes_through_kubernetes_core(lab, tmp_path):  # noqa: F811
    """kubeconfig users with exec plugins (oc, cloud CLIs) are kubernetes.core's: the module still works."""
    doc = lab_kubeconfig(lab)
    ctx = next(c for c in doc["contexts"] if c["name"] == doc["current-context"])["context"]
    token = next(u for u in doc["users"] if u["name"] == ctx["user"])["user"]["token"]
    plugin = tmp_path / "credential-plugin"
    plugin.write_text("#!%s\nimport json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
                      "'kind': 'ExecCredential', 'status': {'token': %r}}))\n" % (sys.executable, token))
    plugin.chmod(0o700)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                     "interactiveMode": "Never"}}
    out = read({"kubeconfig": with_user(doc, user)})
    assert out["rc"] == 0, out
    assert [r["metadata"]["name"] for r in out["resources"]] == ["default"]


def test_a_ca_that_does_not_verify_is_one_sentence(lab, tmp_path):  # noqa: F811
    doc = lab_kubeconfig(lab)
    other_ca = client_certificate("not-a-ca", "x")[0]  # any certificate but the apiserver's CA
    for cluster in doc["clusters"]:
        cluster["cluster"]["certificate-authority-data"] = b64(other_ca)
    out = read({"kubeconfig": doc})
    assert out["rc"] != 0 and out.get("failed")
    assert "does not verify" in out["msg"] and "Give its CA" in out["msg"], out["msg"]
    assert "Traceback" not in out["msg"]


def test_an_api_server_that_is_not_there_is_named(lab):  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = read({"host": "https://127.0.0.1:%d" % port, "api_key": "secret-token-value", "validate_certs": False})
    assert out["rc"] != 0
    assert out["msg"].startswith("Cannot reach the Kubernetes API at https://127.0.0.1:%d" % port), out["msg"]
    assert "secret-token-value" not in json.dumps(out)


def test_a_kind_the_cluster_does_not_serve_reads_as_nothing(lab):  # noqa: F811
    out = read({"kubeconfig": lab["kubeconfig"], "api_version": "example.com/v1", "kind": "Nothing", "name": "x"})
    assert out["rc"] == 0 and out["resources"] == [] and out["api_found"] is False


@pytest.mark.parametrize("missing", ["the object", "the namespace"])
def test_a_missing_object_reads_as_nothing(lab, missing):  # noqa: F811
    args = {"kubeconfig": lab["kubeconfig"], "kind": "Secret", "name": "no-such-secret",
            "namespace": "default" if missing == "the object" else "no-such-namespace"}
    out = read(args)
    assert out["rc"] == 0 and out["resources"] == [] and out["api_found"] is True
