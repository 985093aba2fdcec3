"""The lab CA, serving certificates, the ServiceAccount signing key, static tokens, kubeconfigs."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import shutil
from pathlib import Path

import yaml

from .base import Lab, write_private

def ensure_pki(lab: Lab) -> None:
    """Lab CA, apiserver and loopback serving certs, service-account signing key (once per lab)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pki = lab.pki
    pki.mkdir(parents=True, exist_ok=True)
    os.chmod(pki, 0o700)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=365)

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def load_ca():
        key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
        cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
        return key, cert

    if not (pki / "ca.crt").exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "private-ai-lab-ca")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        write_private(pki / "ca.key", pem_key(key))
        write_private(pki / "ca.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
    ca_key, ca_cert = load_ca()
    shutil.copyfile(pki / "ca.crt", lab.state / "ca.crt")

    def issue(stem: str, common_name: str, dns: list[str], ips: list[str]) -> None:
        if (pki / f"{stem}.crt").exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        write_private(pki / f"{stem}.key", pem_key(key))
        write_private(pki / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)

    issue("apiserver", "kube-apiserver",
          ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           "kubernetes.default.svc.cluster.local"], ["127.0.0.1", "10.96.0.1"])
    issue("loopback", "private-ai-lab-loopback", ["localhost"], ["127.0.0.1"])

    if not (pki / "sa.key").exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_private(pki / "sa.key", pem_key(key))
        write_private(pki / "sa.pub", key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)


# Static token identities. The controllers run as system:masters: acceptable for a lab, and it
# avoids --use-service-account-credentials (one identity per controller) for nothing we test.
TOKEN_USERS = {
    "admin": ("lab-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", "system:masters"),
    "scheduler": ("system:kube-scheduler", ""),
    "kwok": ("system:kwok-controller", "system:masters"),
    "simulator": ("system:private-ai-labsim", "system:masters"),
    "kserve": ("system:serviceaccount:redhat-ods-applications:kserve-controller-manager", "system:masters"),
    "kueue": ("system:serviceaccount:openshift-kueue-operator:kueue-controller-manager", "system:masters"),
}


def ensure_tokens(lab: Lab) -> dict[str, str]:
    tokens = {name: lab.secret(f"pki/token-{name}") for name in TOKEN_USERS}
    lines = []
    for name, (user, groups) in TOKEN_USERS.items():
        lines.append(f'{tokens[name]},{user},{user},"{groups}"' if groups else f"{tokens[name]},{user},{user}")
    write_private(lab.pki / "tokens.csv", "\n".join(lines) + "\n")
    return tokens


def kubeconfig(lab: Lab, user: str, token: str) -> str:
    ca = base64.b64encode((lab.pki / "ca.crt").read_bytes()).decode()
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "private-ai-lab", "cluster": {
            "server": lab.apiserver_url, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": f"{user}@private-ai-lab", "context": {
            "cluster": "private-ai-lab", "user": user}}],
        "current-context": f"{user}@private-ai-lab",
        "preferences": {},
    }, sort_keys=False)


def ensure_kubeconfigs(lab: Lab, tokens: dict[str, str]) -> None:
    lab.kubeconfigs.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.kubeconfigs, 0o700)
    for name in TOKEN_USERS:
        write_private(lab.kubeconfigs / f"{name}.kubeconfig", kubeconfig(lab, name, tokens[name]))
    write_private(lab.state / "kubeconfig", kubeconfig(lab, "admin", tokens["admin"]))
