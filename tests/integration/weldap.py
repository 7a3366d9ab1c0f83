# SPDX-License-Identifier: LGPL-2.1-or-later
"""An OpenLDAP slapd of the test's own (Debian: slapd, ldap-utils), for the
auth-ldap integration tests: cn=config and data loaded with slapadd into a
temporary directory, a CA and a server certificate made with openssl, and
"olcSecurity: tls=1" so only StartTLS or ldaps:// connections get answers.

slapd runs in the foreground as our child with PR_SET_PDEATHSIG, so it dies
with the test even when the test is killed before its cleanup.

Directory (every password is "<uid>-Secret-1"):
  ou=people: vera (group we-viewers), otto (we-operators), ada (we-viewers and
  we-admins), nora (no mapped group)
  cn=webencode,ou=services: the service account, password SERVICE_PASSWORD
"""

import ctypes
import os
import shutil
import socket
import subprocess
import tempfile
import time

SUFFIX = "dc=example,dc=org"
PEOPLE = "ou=people," + SUFFIX
GROUPS = "ou=groups," + SUFFIX
SERVICE_DN = "cn=webencode,ou=services," + SUFFIX
SERVICE_PASSWORD = "svc-Pa55-it-never-logged"
ROLE_MAP = ("cn=we-viewers,%s=viewer;we-operators=operator;cn=we-admins,%s=admin"
            % (GROUPS, GROUPS))
USERS = {"vera": "Vera Viewer", "otto": "Otto Operator", "ada": "Ada Admin",
         "nora": "Nora Nogroup"}


def password(uid):
    return uid + "-Secret-1"


def find_sbin(name):
    for d in (os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin"]):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def available():
    return all(find_sbin(p) for p in ("slapd", "slapadd")) and shutil.which("openssl")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1, SIGKILL = 9
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9, 0, 0, 0)


def _run(*args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (args[0], r.stdout, r.stderr))


class Slapd:
    def __init__(self, tls=True):
        self.dir = tempfile.mkdtemp(prefix="we-ldap-")
        self.tls = tls
        self.port = _free_port()
        self.proc = None
        self.url = "ldap://127.0.0.1:%d/" % self.port
        self.ca_file = os.path.join(self.dir, "ca.crt")

    def _certificates(self):
        d = self.dir
        ext = os.path.join(d, "server.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        _run("openssl", "req", "-x509", *ec, "-keyout", d + "/ca.key", "-out", self.ca_file,
             "-subj", "/CN=WebEncode test CA", "-days", "2")
        _run("openssl", "req", *ec, "-keyout", d + "/server.key", "-out", d + "/server.csr",
             "-subj", "/CN=127.0.0.1")
        _run("openssl", "x509", "-req", "-in", d + "/server.csr", "-CA", self.ca_file,
             "-CAkey", d + "/ca.key", "-CAcreateserial", "-out", d + "/server.crt",
             "-days", "2", "-extfile", ext)

    def _config_ldif(self):
        d = self.dir
        tls = ""
        if self.tls:
            tls = ("olcTLSCertificateFile: %s/server.crt\n"
                   "olcTLSCertificateKeyFile: %s/server.key\nolcSecurity: tls=1\n" % (d, d))
        schemas = "".join("\ninclude: file:///etc/ldap/schema/%s.ldif\n" % s
                          for s in ("core", "cosine", "nis", "inetorgperson"))
        return (
            "dn: cn=config\nobjectClass: olcGlobal\ncn: config\nolcPidFile: %s/slapd.pid\n%s"
            "\ndn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n"
            "olcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb\n"
            "\ndn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n%s"
            "\ndn: olcDatabase={-1}frontend,cn=config\nobjectClass: olcDatabaseConfig\n"
            "objectClass: olcFrontendConfig\nolcDatabase: {-1}frontend\n"
            "\ndn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\n"
            "olcDatabase: {0}config\nolcAccess: {0}to * by * none\n"
            "\ndn: olcDatabase={1}mdb,cn=config\nobjectClass: olcDatabaseConfig\n"
            "objectClass: olcMdbConfig\nolcDatabase: {1}mdb\nolcSuffix: %s\n"
            "olcRootDN: cn=admin,%s\nolcDbDirectory: %s/data\nolcDbMaxSize: 16777216\n"
            "olcAccess: {0}to attrs=userPassword by anonymous auth by * none\n"
            "olcAccess: {1}to * by dn.exact=\"%s\" read by * none\n"
            % (d, tls, schemas, SUFFIX, SUFFIX, d, SERVICE_DN))

    @staticmethod
    def _data_ldif():
        out = ("dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n"
               "o: Example\n" % SUFFIX)
        for ou in ("people", "groups", "services"):
            out += "\ndn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n" % (ou, SUFFIX, ou)
        out += ("\ndn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
                "cn: webencode\nuserPassword: %s\n" % (SERVICE_DN, SERVICE_PASSWORD))
        for uid, name in USERS.items():
            out += ("\ndn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\n"
                    "mail: %s@example.org\nuserPassword: %s\n"
                    % (uid, PEOPLE, uid, name, uid, uid, password(uid)))
        out += ("\ndn: cn=we-viewers,%s\nobjectClass: groupOfNames\ncn: we-viewers\n"
                "member: uid=vera,%s\nmember: uid=ada,%s\n" % (GROUPS, PEOPLE, PEOPLE))
        out += ("\ndn: cn=we-operators,%s\nobjectClass: groupOfUniqueNames\ncn: we-operators\n"
                "uniqueMember: uid=otto,%s\n" % (GROUPS, PEOPLE))
        out += ("\ndn: cn=we-admins,%s\nobjectClass: posixGroup\ncn: we-admins\n"
                "gidNumber: 5000\nmemberUid: ada\n" % GROUPS)
        return out

    def start(self, timeout=10):
        if self.proc is None and not os.path.exists(os.path.join(self.dir, "slapd.d")):
            if self.tls:
                self._certificates()
            conf = os.path.join(self.dir, "slapd.d")
            os.makedirs(conf, mode=0o700)
            os.makedirs(os.path.join(self.dir, "data"), mode=0o700)
            for name, text in (("config.ldif", self._config_ldif()),
                               ("data.ldif", self._data_ldif())):
                with open(os.path.join(self.dir, name), "w") as f:
                    f.write(text)
            slapadd = find_sbin("slapadd")
            _run(slapadd, "-n0", "-F", conf, "-l", os.path.join(self.dir, "config.ldif"))
            _run(slapadd, "-F", conf, "-b", SUFFIX, "-l", os.path.join(self.dir, "data.ldif"))
        self.log = open(os.path.join(self.dir, "slapd.log"), "ab")
        # -d 0: in the foreground, so it stays our child; no -u: the files are ours
        self.proc = subprocess.Popen(
            [find_sbin("slapd"), "-F", os.path.join(self.dir, "slapd.d"), "-h", self.url,
             "-d", "0"],
            stdout=subprocess.DEVNULL, stderr=self.log, preexec_fn=_die_with_parent)
        deadline = time.time() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    with open(os.path.join(self.dir, "slapd.log")) as f:
                        raise RuntimeError("slapd did not start:\n" + f.read())
                time.sleep(0.02)

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def plugin_config(self, secret_ref):
        """The [plugin:auth-ldap] keys for this directory."""
        return {
            "url": self.url,
            "starttls": "true" if self.tls else "false",
            "ca_file": self.ca_file if self.tls else "",
            "bind_dn": SERVICE_DN,
            "bind_password_secret_ref": secret_ref,
            "user_base": PEOPLE,
            "group_base": GROUPS,
            "role_map": ROLE_MAP,
        }
