"""A throw-away certificate authority for tests of TLS connections (Redis, MariaDB)."""
import datetime
import ipaddress
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers import MariaDBServer


class TlsFiles(NamedTuple):
    cert: Path
    key: Path
    ca: Path


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path, key):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o644)  # the test's servers run as other users (mysql)


def make_server_certificate(directory, hosts=("127.0.0.1", "localhost")):
    """A CA and a server certificate for *hosts* signed by it, as PEM files in *directory*."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(minutes=5),
                 not_valid_after=now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder(**valid).subject_name(_name("Absensi test CA"))
               .issuer_name(_name("Absensi test CA")).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h)
             for h in hosts]
    cert = (x509.CertificateBuilder(**valid).subject_name(_name(hosts[0]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = TlsFiles(directory / "server.pem", directory / "server.key", directory / "ca.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.key, key)
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return files


class TlsMariaDB(MariaDBServer):
    """A :class:`MariaDBServer` that, like production's, accepts TCP clients only over TLS."""

    def __init__(self, *, tls, **kwargs):
        super().__init__(**kwargs)
        self.tls = tls

    def _spawn(self, argv):
        super()._spawn([*argv, f"--ssl-ca={self.tls.ca}", f"--ssl-cert={self.tls.cert}",
                        f"--ssl-key={self.tls.key}", "--require-secure-transport=ON"])
