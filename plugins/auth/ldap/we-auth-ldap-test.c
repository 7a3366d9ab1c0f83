/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * auth-ldap against a real OpenLDAP slapd that each test starts in its own
 * temporary directory: cn=config and data loaded with slapadd, a CA and a
 * server certificate made with openssl for StartTLS and ldaps://, and
 * "olcSecurity: tls=1" so nothing but an encrypted connection gets an
 * answer. slapd runs in the foreground (-d 0) as our child with
 * PR_SET_PDEATHSIG, so it dies with the test even when an assertion aborts
 * before the teardown.
 *
 * The service account's password comes from the file secrets backend
 * (src/secrets), as a deployment would configure it.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include <glib/gstdio.h>

#include "plugin/we-plugin-host.h"
#include "secrets/we-secrets-file.h"

#define SUFFIX       "dc=example,dc=org"
#define SERVICE_DN   "cn=webencode,ou=services," SUFFIX
#define SERVICE_PW   "svc-Pa55-never-logged"
#define PEOPLE       "ou=people," SUFFIX
#define GROUPS       "ou=groups," SUFFIX
/* every user's password is "<uid>-Secret-1" */
#define ROLE_MAP     "cn=we-viewers," GROUPS "=viewer; we-operators=operator;" \
                     "CN=We-Admins, OU=Groups, DC=Example, DC=Org=admin"

/* ---- what the tests log: no password may ever appear in it ---- */

static GMutex log_lock;
static GString *log_text;

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  g_mutex_lock (&log_lock);
  for (gsize i = 0; i < n_fields; i++) {
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0) {
      g_string_append (log_text, fields[i].value);
      g_string_append_c (log_text, '\n');
    }
  }
  g_mutex_unlock (&log_lock);
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static void
assert_log_has_no_secrets (void)
{
  static const gchar *const secrets[] = { SERVICE_PW, "Secret-1", "wrong-pass", NULL };

  g_mutex_lock (&log_lock);
  for (guint i = 0; secrets[i] != NULL; i++)
    if (strstr (log_text->str, secrets[i]) != NULL)
      g_error ("the log holds a password (%s):\n%s", secrets[i], log_text->str);
  g_mutex_unlock (&log_lock);
}

/* ---- a slapd of our own ---- */

typedef struct {
  gchar       *dir;
  gboolean     tls;
  guint16      port;
  guint16      ldaps_port;
  GSubprocess *proc;
} Slapd;

static void
run (const gchar * const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out = NULL;
  g_autofree gchar *err = NULL;
  gint status = 0;

  g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed:\n%s%s", argv[0], out, err);
}

static guint16
free_port (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                          G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_no_error (error);
  g_socket_bind (sock, addr, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (sock, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static gchar *
path_in (Slapd *s, const gchar *name)
{
  return g_build_filename (s->dir, name, NULL);
}

static void
write_file (const gchar *path, const gchar *contents)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

/* Certificates are made once per process (openssl is the slow part of a
 * fixture) in this directory, removed at the end of main(). */
static gchar *cert_dir;

static gchar *
cert_path (const gchar *name)
{
  return g_build_filename (cert_dir, name, NULL);
}

/* A CA, and a server certificate for 127.0.0.1 signed by it. */
static void
make_certificates (const gchar *prefix)
{
  g_autofree gchar *ca_key = g_strdup_printf ("%s/%s-ca.key", cert_dir, prefix);
  g_autofree gchar *ca_crt = g_strdup_printf ("%s/%s-ca.crt", cert_dir, prefix);
  g_autofree gchar *key = g_strdup_printf ("%s/%s-server.key", cert_dir, prefix);
  g_autofree gchar *csr = g_strdup_printf ("%s/%s-server.csr", cert_dir, prefix);
  g_autofree gchar *crt = g_strdup_printf ("%s/%s-server.crt", cert_dir, prefix);
  g_autofree gchar *ext = cert_path ("server.ext");
  const gchar *ca[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key, "-out",
                        ca_crt, "-subj", "/CN=WebEncode test CA", "-days", "2", NULL };
  const gchar *req[] = { "openssl", "req", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
                         "-subj", "/CN=127.0.0.1", NULL };
  const gchar *sign[] = { "openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                          "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext, NULL };

  write_file (ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  run (ca);
  run (req);
  run (sign);
}

static gchar *
config_ldif (Slapd *s)
{
  GString *ldif = g_string_new (NULL);

  g_string_append_printf (ldif,
                          "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n"
                          "olcPidFile: %s/slapd.pid\n"
                          /* answer a bind with a DN and no password with success, as
                           * some servers do (RFC 4513 §5.1.2): the plugin must not
                           * count it as a login */
                          "olcAllows: bind_anon_dn\n", s->dir);
  if (s->tls)
    g_string_append_printf (ldif,
                            "olcTLSCertificateFile: %s/main-server.crt\n"
                            "olcTLSCertificateKeyFile: %s/main-server.key\n"
                            /* nothing in clear: a client that skips StartTLS gets no answer */
                            "olcSecurity: tls=1\n",
                            cert_dir, cert_dir);
  g_string_append_printf (ldif,
                          "\ndn: cn=module{0},cn=config\nobjectClass: olcModuleList\n"
                          "cn: module{0}\nolcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb\n"
                          "\ndn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n"
                          "\ninclude: file:///etc/ldap/schema/core.ldif\n"
                          "\ninclude: file:///etc/ldap/schema/cosine.ldif\n"
                          "\ninclude: file:///etc/ldap/schema/nis.ldif\n"
                          "\ninclude: file:///etc/ldap/schema/inetorgperson.ldif\n"
                          "\ndn: olcDatabase={-1}frontend,cn=config\n"
                          "objectClass: olcDatabaseConfig\nobjectClass: olcFrontendConfig\n"
                          "olcDatabase: {-1}frontend\n"
                          "\ndn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\n"
                          "olcDatabase: {0}config\nolcAccess: {0}to * by * none\n"
                          "\ndn: olcDatabase={1}mdb,cn=config\nobjectClass: olcDatabaseConfig\n"
                          "objectClass: olcMdbConfig\nolcDatabase: {1}mdb\n"
                          "olcSuffix: " SUFFIX "\nolcRootDN: cn=admin," SUFFIX "\n"
                          "olcDbDirectory: %s/data\nolcDbMaxSize: 16777216\n"
                          /* passwords only for binding; the directory only for the
                           * service account: the plugin must bind before it searches */
                          "olcAccess: {0}to attrs=userPassword by anonymous auth by * none\n"
                          "olcAccess: {1}to * by dn.exact=\"" SERVICE_DN "\" read by * none\n",
                          s->dir);
  return g_string_free (ldif, FALSE);
}

static void
add_person (GString *ldif, const gchar *uid, const gchar *display_name)
{
  g_string_append_printf (ldif,
                          "\ndn: uid=%s," PEOPLE "\nobjectClass: inetOrgPerson\nuid: %s\n"
                          "cn: %s\nsn: %s\nmail: %s@example.org\nuserPassword: %s-Secret-1\n",
                          uid, uid, display_name, uid, uid, uid);
}

static gchar *
data_ldif (void)
{
  GString *ldif = g_string_new (NULL);

  g_string_append (ldif,
                   "dn: " SUFFIX "\nobjectClass: dcObject\nobjectClass: organization\n"
                   "dc: example\no: Example\n"
                   "\ndn: " PEOPLE "\nobjectClass: organizationalUnit\nou: people\n"
                   "\ndn: " GROUPS "\nobjectClass: organizationalUnit\nou: groups\n"
                   "\ndn: ou=services," SUFFIX "\nobjectClass: organizationalUnit\nou: services\n"
                   "\ndn: " SERVICE_DN "\nobjectClass: organizationalRole\n"
                   "objectClass: simpleSecurityObject\ncn: webencode\n"
                   "userPassword: " SERVICE_PW "\n");
  add_person (ldif, "vera", "Vera Viewer");
  add_person (ldif, "otto", "Otto Operator");
  add_person (ldif, "ada", "Ada Admin");
  add_person (ldif, "nora", "Nora Nogroup");
  /* parentheses in the DN: %dn must be escaped in the group filter */
  add_person (ldif, "o(brien)", "O Brien");
  /* each group kind the default group_filter knows */
  g_string_append (ldif,
                   "\ndn: cn=we-viewers," GROUPS "\nobjectClass: groupOfNames\ncn: we-viewers\n"
                   "member: uid=vera," PEOPLE "\nmember: uid=ada," PEOPLE "\n"
                   "\ndn: cn=we-operators," GROUPS "\nobjectClass: groupOfUniqueNames\n"
                   "cn: we-operators\nuniqueMember: uid=otto," PEOPLE "\n"
                   "uniqueMember: uid=o(brien)," PEOPLE "\n"
                   "\ndn: cn=we-admins," GROUPS "\nobjectClass: posixGroup\ncn: we-admins\n"
                   "gidNumber: 5000\nmemberUid: ada\n"
                   "\ndn: cn=unrelated," GROUPS "\nobjectClass: groupOfNames\ncn: unrelated\n"
                   "member: uid=nora," PEOPLE "\n");
  return g_string_free (ldif, FALSE);
}

static void
child_setup (gpointer data)
{
  /* slapd must not outlive a test that aborts */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
port_is_open (guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;

  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, NULL);
  return conn != NULL;
}

static void
slapd_start (Slapd *s)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *conf_dir = path_in (s, "slapd.d");
  g_autofree gchar *log = path_in (s, "slapd.log");
  g_autofree gchar *urls = NULL;
  gint64 deadline;

  if (s->tls)
    urls = g_strdup_printf ("ldap://127.0.0.1:%u/ ldaps://127.0.0.1:%u/", s->port, s->ldaps_port);
  else
    urls = g_strdup_printf ("ldap://127.0.0.1:%u/", s->port);
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  /* -d 0: in the foreground, so it stays our child; no -u: the files are ours */
  s->proc = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("WE_SLAPD"), "-F", conf_dir,
                                         "-h", urls, "-d", "0", NULL);
  g_assert_no_error (error);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!port_is_open (s->port) || (s->tls && !port_is_open (s->ldaps_port))) {
    if (g_subprocess_get_identifier (s->proc) == NULL || g_get_monotonic_time () > deadline) {
      g_autofree gchar *text = NULL;
      g_file_get_contents (log, &text, NULL, NULL);
      g_error ("slapd did not start:\n%s", text ? text : "");
    }
    g_usleep (20 * 1000);
  }
}

static void
slapd_stop (Slapd *s)
{
  if (s->proc == NULL)
    return;
  g_subprocess_force_exit (s->proc);
  g_subprocess_wait (s->proc, NULL, NULL);
  g_clear_object (&s->proc);
}

static void
slapd_setup (Slapd *s, gboolean tls)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *conf_dir = NULL;
  g_autofree gchar *data_dir = NULL;
  g_autofree gchar *conf_ldif = NULL;
  g_autofree gchar *dat_ldif = NULL;
  g_autofree gchar *conf = NULL;
  g_autofree gchar *dat = NULL;

  s->dir = g_dir_make_tmp ("we-auth-ldap-XXXXXX", &error);
  g_assert_no_error (error);
  s->tls = tls;
  s->port = free_port ();
  do
    s->ldaps_port = free_port ();
  while (s->ldaps_port == s->port);
  if (tls && cert_dir == NULL) {
    cert_dir = g_dir_make_tmp ("we-auth-ldap-certs-XXXXXX", &error);
    g_assert_no_error (error);
    make_certificates ("main");
    make_certificates ("other");  /* a CA that did not sign the server's certificate */
  }
  conf_dir = path_in (s, "slapd.d");
  data_dir = path_in (s, "data");
  g_assert_cmpint (g_mkdir (conf_dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (data_dir, 0700), ==, 0);
  conf_ldif = path_in (s, "config.ldif");
  dat_ldif = path_in (s, "data.ldif");
  conf = config_ldif (s);
  dat = data_ldif ();
  write_file (conf_ldif, conf);
  write_file (dat_ldif, dat);
  {
    const gchar *add_config[] = { g_getenv ("WE_SLAPADD"), "-n0", "-F", conf_dir, "-l",
                                  conf_ldif, NULL };
    const gchar *add_data[] = { g_getenv ("WE_SLAPADD"), "-F", conf_dir, "-b", SUFFIX, "-l",
                                dat_ldif, NULL };
    run (add_config);
    run (add_data);
  }
  slapd_start (s);
}

static void
remove_tree (const gchar *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *child = g_build_filename (path, name, NULL);
    if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
      remove_tree (child);
    else
      g_unlink (child);
  }
  g_rmdir (path);
}

/* ---- the fixture: a slapd, a secrets directory, the plugin ---- */

typedef struct {
  Slapd           slapd;
  gchar          *secrets_dir;
  JsonObject     *config;
  WePluginHost   *host;
  WeAuthProvider *auth;
} Fixture;

static JsonObject *
config_func (const gchar *plugin_id, gpointer user_data)
{
  Fixture *fx = user_data;
  return g_strcmp0 (plugin_id, "auth-ldap") == 0 && fx->config != NULL
           ? json_object_ref (fx->config) : NULL;
}

static WePluginHost *
new_host (Fixture *fx)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeSecretsFile) secrets = we_secrets_file_new (fx->secrets_dir);
  WePluginHost *host = we_plugin_host_new ();

  we_plugin_host_set_pillar_filter (host, 1u << WE_PILLAR_AUTH);
  we_plugin_host_set_secrets (host, WE_SECRETS (secrets));
  we_plugin_host_set_config_func (host, config_func, fx, NULL);
  we_plugin_host_load_dir (host, g_getenv ("WE_PLUGIN_DIR"), &error);
  g_assert_no_error (error);
  return host;
}

static void
load (Fixture *fx)
{
  WePluginInfo *info;

  g_clear_object (&fx->host);
  fx->host = new_host (fx);
  info = we_plugin_host_get_plugin (fx->host, "auth-ldap");
  g_assert_nonnull (info);
  if (info->state != WE_PLUGIN_STATE_HEALTHY)
    g_error ("auth-ldap did not load: %s", info->error);
  fx->auth = WE_AUTH_PROVIDER (we_plugin_host_get_instance (fx->host, "auth-ldap"));
  g_assert_nonnull (fx->auth);
}

static void
set_secret (Fixture *fx, const gchar *name, const gchar *value)
{
  g_autofree gchar *path = g_build_filename (fx->secrets_dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents_full (path, value, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error);
  g_assert_no_error (error);
}

static gchar *
url (Fixture *fx)
{
  return g_strdup_printf ("ldap://127.0.0.1:%u/", fx->slapd.port);
}

static void
set_str (Fixture *fx, const gchar *key, const gchar *value)
{
  json_object_set_string_member (fx->config, key, value);
}

static void
fixture_setup_common (Fixture *fx, gboolean tls)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *u = NULL;
  g_autofree gchar *openssl = g_find_program_in_path ("openssl");

  if (g_getenv ("WE_SLAPD") == NULL || g_getenv ("WE_SLAPADD") == NULL || openssl == NULL) {
    g_test_skip ("needs slapd, slapadd (Debian: slapd) and openssl");
    return;
  }
  slapd_setup (&fx->slapd, tls);
  fx->secrets_dir = g_build_filename (fx->slapd.dir, "secrets", NULL);
  g_assert_cmpint (g_mkdir (fx->secrets_dir, 0700), ==, 0);
  set_secret (fx, "ldap-bind", SERVICE_PW "\n");

  fx->config = json_object_new ();
  u = url (fx);
  set_str (fx, "url", u);
  if (tls) {
    g_autofree gchar *ca = cert_path ("main-ca.crt");
    json_object_set_boolean_member (fx->config, "starttls", TRUE);
    set_str (fx, "ca_file", ca);
  }
  set_str (fx, "bind_dn", SERVICE_DN);
  set_str (fx, "bind_password_secret_ref", "file:ldap-bind");
  set_str (fx, "user_base", PEOPLE);
  set_str (fx, "group_base", GROUPS);
  set_str (fx, "role_map", ROLE_MAP);
  set_str (fx, "timeout_s", "3");
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fixture_setup_common (fx, TRUE);
}

static void
fixture_setup_plain (Fixture *fx, gconstpointer data)
{
  fixture_setup_common (fx, FALSE);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_clear_object (&fx->host);
  slapd_stop (&fx->slapd);
  g_clear_pointer (&fx->config, json_object_unref);
  if (fx->slapd.dir != NULL)
    remove_tree (fx->slapd.dir);
  g_free (fx->slapd.dir);
  g_free (fx->secrets_dir);
  assert_log_has_no_secrets ();
}

static WeIdentity *
login (Fixture *fx, const gchar *user, const gchar *password, GError **error)
{
  g_autofree gchar *plain = g_strdup_printf ("%s:%s", user, password);
  g_autofree gchar *token = g_base64_encode ((const guchar *) plain, strlen (plain));
  WeAuthRequest request = {
    .scheme = "Basic",
    .token = token,
    .client_ip = "192.0.2.7",
    .user_agent = "test",
  };
  return we_auth_provider_authenticate (fx->auth, &request, error);
}

static gchar *
password_of (const gchar *user)
{
  return g_strdup_printf ("%s-Secret-1", user);
}

static WeIdentity *
login_ok (Fixture *fx, const gchar *user)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *pw = password_of (user);
  WeIdentity *identity = login (fx, user, pw, &error);

  g_assert_no_error (error);
  g_assert_nonnull (identity);
  return identity;
}

static void
assert_refused (Fixture *fx, const gchar *user, const gchar *password, gint code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) identity = login (fx, user, password, &error);

  g_assert_null (identity);
  g_assert_error (error, WE_ERROR, code);
  if (code == WE_ERROR_AUTH_UNAUTHORIZED)
    g_assert_cmpstr (error->message, ==, "invalid username or password");
}

#define SKIP_WITHOUT_SLAPD() \
  do { if (fx->config == NULL) return; } while (0)

/* ---- tests ---- */

static void
test_roles (Fixture *fx, gconstpointer data)
{
  g_autoptr(WeIdentity) vera = NULL;
  g_autoptr(WeIdentity) otto = NULL;
  g_autoptr(WeIdentity) ada = NULL;
  g_autoptr(WeIdentity) obrien = NULL;
  g_autoptr(WeIdentity) vera2 = NULL;

  SKIP_WITHOUT_SLAPD ();
  load (fx);
  vera = login_ok (fx, "vera");
  g_assert_cmpint (vera->role, ==, WE_ROLE_VIEWER);
  g_assert_cmpstr (vera->username, ==, "vera");
  g_assert_cmpstr (vera->email, ==, "vera@example.org");
  g_assert_cmpstr (vera->display_name, ==, "Vera Viewer");
  g_assert_cmpint (strlen (vera->user_id), ==, 36);
  g_assert_cmpint (vera->user_id[14], ==, '5');

  otto = login_ok (fx, "otto");
  g_assert_cmpint (otto->role, ==, WE_ROLE_OPERATOR);   /* groupOfUniqueNames, by cn */
  ada = login_ok (fx, "ada");
  g_assert_cmpint (ada->role, ==, WE_ROLE_ADMIN);       /* viewer + admin: the highest */
  obrien = login_ok (fx, "o(brien)");
  g_assert_cmpint (obrien->role, ==, WE_ROLE_OPERATOR); /* escaped %dn matched */
  g_assert_cmpstr (obrien->username, ==, "o(brien)");
  g_assert_cmpstr (vera->user_id, !=, otto->user_id);

  /* ids are stable across instances and the directory's case-insensitive names */
  load (fx);
  {
    g_autoptr(GError) error = NULL;
    vera2 = login (fx, "VERA", "vera-Secret-1", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (vera2->user_id, ==, vera->user_id);
    g_assert_cmpstr (vera2->username, ==, "vera");
  }
}

static void
test_no_group (Fixture *fx, gconstpointer data)
{
  g_autoptr(WeIdentity) nora = NULL;

  SKIP_WITHOUT_SLAPD ();
  load (fx);
  assert_refused (fx, "nora", "nora-Secret-1", WE_ERROR_AUTH_FORBIDDEN);
  /* and never cached as a success */
  assert_refused (fx, "nora", "nora-Secret-1", WE_ERROR_AUTH_FORBIDDEN);

  set_str (fx, "default_role", "viewer");
  load (fx);
  nora = login_ok (fx, "nora");
  g_assert_cmpint (nora->role, ==, WE_ROLE_VIEWER);
  /* the right password still matters for a default-role user */
  assert_refused (fx, "nora", "wrong-pass", WE_ERROR_AUTH_UNAUTHORIZED);
}

static void
test_bad_credentials (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) identity = NULL;
  WeAuthRequest bearer = { .scheme = "Bearer", .token = "eyJhbGciOi.x.y" };
  WeAuthRequest none = { .scheme = NULL, .client_is_local = TRUE };
  WeAuthRequest junk = { .scheme = "basic", .token = "not base64!" };

  SKIP_WITHOUT_SLAPD ();
  load (fx);
  assert_refused (fx, "vera", "wrong-pass", WE_ERROR_AUTH_UNAUTHORIZED);
  assert_refused (fx, "nobody", "wrong-pass", WE_ERROR_AUTH_UNAUTHORIZED);
  /* an unauthenticated bind (RFC 4513 §5.1.2) succeeds on slapd: refused first */
  assert_refused (fx, "vera", "", WE_ERROR_AUTH_UNAUTHORIZED);
  assert_refused (fx, "ada", "", WE_ERROR_AUTH_UNAUTHORIZED);
  /* another account's password */
  assert_refused (fx, "ada", "vera-Secret-1", WE_ERROR_AUTH_UNAUTHORIZED);

  identity = we_auth_provider_authenticate (fx->auth, &bearer, &error);
  g_assert_null (identity);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_assert_cmpstr (error->message, ==, "not basic credentials");
  g_clear_error (&error);
  identity = we_auth_provider_authenticate (fx->auth, &none, &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_clear_error (&error);
  identity = we_auth_provider_authenticate (fx->auth, &junk, &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_clear_error (&error);

  /* a wrong service password is the operator's problem, not the user's */
  set_secret (fx, "ldap-bind", "not-the-service-password");
  g_clear_object (&fx->host);
  load (fx);
  assert_refused (fx, "vera", "vera-Secret-1", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
  /* read at each bind: fixing the secret needs no restart */
  set_secret (fx, "ldap-bind", SERVICE_PW);
  identity = login_ok (fx, "vera");
  g_clear_pointer (&identity, we_identity_free);
  /* a reference to nothing */
  set_str (fx, "bind_password_secret_ref", "file:missing");
  load (fx);
  assert_refused (fx, "vera", "vera-Secret-1", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
  /* without the service account nothing is readable in this directory, not
   * even user_base (noSuchObject): the operator's problem again */
  json_object_remove_member (fx->config, "bind_dn");
  json_object_remove_member (fx->config, "bind_password_secret_ref");
  load (fx);
  assert_refused (fx, "vera", "vera-Secret-1", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
}

static void
test_injection (Fixture *fx, gconstpointer data)
{
  /* Each would match ada (or everyone) if the name reached the filter
   * unescaped; with ada's password that would log the attacker in. */
  static const gchar *const names[] = {
    "*", "a*", "*a", "ad*", ")(uid=*", "*)(uid=*", "ada)(|(uid=*", "*)(|(objectClass=*",
    "ada)(objectClass=*", "\\2a", "ada\\", "ada)", "(uid=ada)", "ada\t", NULL
  };

  SKIP_WITHOUT_SLAPD ();
  set_str (fx, "cache_ttl_s", "0");
  load (fx);
  for (guint i = 0; names[i] != NULL; i++) {
    g_test_message ("user name '%s'", names[i]);
    assert_refused (fx, names[i], "ada-Secret-1", WE_ERROR_AUTH_UNAUTHORIZED);
    assert_refused (fx, names[i], "*", WE_ERROR_AUTH_UNAUTHORIZED);
  }
  /* and the real name still works */
  {
    g_autoptr(WeIdentity) ada = login_ok (fx, "ada");
    g_assert_cmpint (ada->role, ==, WE_ROLE_ADMIN);
  }
}

static void
test_cache_and_logout (Fixture *fx, gconstpointer data)
{
  g_autoptr(WeIdentity) vera = NULL;
  g_autoptr(WeIdentity) again = NULL;
  g_autoptr(GError) error = NULL;

  SKIP_WITHOUT_SLAPD ();
  set_str (fx, "cache_ttl_s", "300");
  load (fx);
  vera = login_ok (fx, "vera");
  slapd_stop (&fx->slapd);

  /* remembered: the directory is not asked */
  again = login_ok (fx, "vera");
  g_assert_cmpstr (again->user_id, ==, vera->user_id);
  g_assert_cmpint (again->role, ==, WE_ROLE_VIEWER);
  /* only the password that worked is remembered */
  assert_refused (fx, "vera", "wrong-pass", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);

  /* Logout drops it: the next check goes to the (stopped) directory */
  g_assert_true (we_auth_provider_logout (fx->auth, vera->user_id, NULL, TRUE, &error));
  g_assert_no_error (error);
  assert_refused (fx, "vera", "vera-Secret-1", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
}

static void
test_directory_down (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) vera = NULL;
  g_autoptr(WeIdentity) profile = NULL;
  g_autoptr(GPtrArray) users = NULL;
  gint64 start;

  SKIP_WITHOUT_SLAPD ();
  set_str (fx, "cache_ttl_s", "0");
  load (fx);
  vera = login_ok (fx, "vera");
  slapd_stop (&fx->slapd);

  start = g_get_monotonic_time ();
  assert_refused (fx, "vera", "vera-Secret-1", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
  assert_refused (fx, "nobody", "x", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 4 * G_USEC_PER_SEC);
  users = we_auth_provider_list_users (fx->auth, WE_ROLE_NONE, &error);
  g_assert_null (users);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
  g_clear_error (&error);
  profile = we_auth_provider_get_user_profile (fx->auth, vera->user_id, &error);
  g_assert_null (profile);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
  g_assert_cmpstr (we_error_code_to_string (error->code), ==, "WE-AUTH-005");

  /* back up: back in business, no reload */
  slapd_start (&fx->slapd);
  g_clear_pointer (&vera, we_identity_free);
  vera = login_ok (fx, "vera");
}

static void
test_tls (Fixture *fx, gconstpointer data)
{
  g_autofree gchar *ldaps = g_strdup_printf ("ldaps://127.0.0.1:%u/", fx->slapd.ldaps_port);
  g_autofree gchar *other_ca = cert_path ("other-ca.crt");
  g_autoptr(WeIdentity) ada = NULL;

  SKIP_WITHOUT_SLAPD ();
  set_str (fx, "cache_ttl_s", "0");

  /* "demand" is a synonym of true */
  set_str (fx, "starttls", "demand");
  load (fx);
  ada = login_ok (fx, "ada");
  g_clear_pointer (&ada, we_identity_free);

  /* in clear the server answers nothing (olcSecurity tls=1) */
  json_object_set_boolean_member (fx->config, "starttls", FALSE);
  load (fx);
  assert_refused (fx, "ada", "ada-Secret-1", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);

  /* a certificate from a CA we do not trust */
  json_object_set_boolean_member (fx->config, "starttls", TRUE);
  set_str (fx, "ca_file", other_ca);
  load (fx);
  assert_refused (fx, "ada", "ada-Secret-1", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);

  /* ldaps:// */
  json_object_set_boolean_member (fx->config, "starttls", FALSE);
  set_str (fx, "url", ldaps);
  load (fx);
  assert_refused (fx, "ada", "ada-Secret-1", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
  {
    g_autofree gchar *ca = cert_path ("main-ca.crt");
    set_str (fx, "ca_file", ca);
  }
  load (fx);
  ada = login_ok (fx, "ada");
  g_assert_cmpint (ada->role, ==, WE_ROLE_ADMIN);
}

static void
test_starttls_without_tls (Fixture *fx, gconstpointer data)
{
  g_autoptr(WeIdentity) vera = NULL;

  SKIP_WITHOUT_SLAPD ();
  set_str (fx, "cache_ttl_s", "0");
  /* the server offers no TLS: StartTLS must fail, never fall back to clear */
  json_object_set_boolean_member (fx->config, "starttls", TRUE);
  load (fx);
  assert_refused (fx, "vera", "vera-Secret-1", WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
  set_str (fx, "starttls", "false");
  load (fx);
  vera = login_ok (fx, "vera");
  g_assert_cmpint (vera->role, ==, WE_ROLE_VIEWER);
}

static gchar *
usernames (GPtrArray *users)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < users->len; i++) {
    WeIdentity *identity = g_ptr_array_index (users, i);
    g_string_append_printf (out, "%s%s=%s", i ? " " : "", identity->username,
                            we_role_to_string (identity->role));
  }
  return g_string_free (out, FALSE);
}

static void
test_list_users (Fixture *fx, gconstpointer data)
{
  SKIP_WITHOUT_SLAPD ();
  load (fx);
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) all = we_auth_provider_list_users (fx->auth, WE_ROLE_NONE, &error);
    g_autofree gchar *names = NULL;

    g_assert_no_error (error);
    names = usernames (all);
    /* nora is in no mapped group and may not log in: not a user of ours */
    g_assert_cmpstr (names, ==, "ada=admin o(brien)=operator otto=operator vera=viewer");
    for (guint i = 0; i < all->len; i++) {
      WeIdentity *identity = g_ptr_array_index (all, i);
      g_assert_nonnull (identity->email);
      g_assert_cmpint (strlen (identity->user_id), ==, 36);
    }
  }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) ops = we_auth_provider_list_users (fx->auth, WE_ROLE_OPERATOR, &error);
    g_autofree gchar *names = NULL;

    g_assert_no_error (error);
    names = usernames (ops);
    g_assert_cmpstr (names, ==, "o(brien)=operator otto=operator");
  }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) viewers = NULL;
    g_autofree gchar *names = NULL;

    set_str (fx, "default_role", "viewer");
    load (fx);
    viewers = we_auth_provider_list_users (fx->auth, WE_ROLE_VIEWER, &error);
    g_assert_no_error (error);
    names = usernames (viewers);
    g_assert_cmpstr (names, ==, "nora=viewer vera=viewer");
  }
}

static void
test_profile (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) otto = NULL;
  g_autoptr(WeIdentity) profile = NULL;
  g_autoptr(WeIdentity) refreshed = NULL;

  SKIP_WITHOUT_SLAPD ();
  load (fx);
  otto = login_ok (fx, "otto");
  profile = we_auth_provider_get_user_profile (fx->auth, otto->user_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (profile->username, ==, "otto");
  g_assert_cmpstr (profile->email, ==, "otto@example.org");
  g_assert_cmpstr (profile->display_name, ==, "Otto Operator");
  g_assert_cmpint (profile->role, ==, WE_ROLE_OPERATOR);
  g_clear_pointer (&profile, we_identity_free);

  /* a fresh instance (a restart) has never seen the id: found all the same */
  load (fx);
  profile = we_auth_provider_get_user_profile (fx->auth, otto->user_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (profile->username, ==, "otto");
  g_clear_pointer (&profile, we_identity_free);

  profile = we_auth_provider_get_user_profile (fx->auth, "00000000-0000-5000-8000-000000000000",
                                               &error);
  g_assert_null (profile);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  g_clear_error (&error);

  refreshed = we_auth_provider_refresh_token (fx->auth, "anything", &error);
  g_assert_null (refreshed);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  /* no opinion on authorization: the kernel's RBAC decides */
  g_assert_true (we_auth_provider_authorize (fx->auth, otto, "delete", "job", NULL, &error));
  g_assert_no_error (error);
  g_assert_false (we_auth_provider_supports_login (fx->auth));
}

static void
assert_config_refused (Fixture *fx, const gchar *reason)
{
  g_autoptr(WePluginHost) host = new_host (fx);
  WePluginInfo *info = we_plugin_host_get_plugin (host, "auth-ldap");

  g_assert_nonnull (info);
  g_assert_cmpint (info->state, ==, WE_PLUGIN_STATE_FAILED);
  if (strstr (info->error, reason) == NULL)
    g_error ("expected '%s' in '%s'", reason, info->error);
}

static void
reset_config (Fixture *fx, JsonObject *good)
{
  g_autoptr(GList) members = json_object_get_members (good);

  g_clear_pointer (&fx->config, json_object_unref);
  fx->config = json_object_new ();
  for (GList *l = members; l != NULL; l = l->next)
    json_object_set_member (fx->config, l->data,
                            json_node_copy (json_object_get_member (good, l->data)));
}

static void
test_config (Fixture *fx, gconstpointer data)
{
  g_autoptr(JsonObject) good = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) identity = NULL;
  g_autoptr(GPtrArray) users = NULL;
  WeAuthRequest basic = { .scheme = "basic", .token = "dmVyYTp4" };

  SKIP_WITHOUT_SLAPD ();
  good = json_object_ref (fx->config);


  {
    static const struct { const gchar *key, *value, *reason; } cases[] = {
      { "url", "http://127.0.0.1/", "not an ldap:// or ldaps:// URL" },
      { "url", "ldap://[::1", "not an ldap:// or ldaps:// URL" },
      { "starttls", "maybe", "starttls must be" },
      { "ca_file", "/nonexistent/ca.crt", "does not exist" },
      { "user_filter", "uid=%s", "parenthesized" },
      { "user_filter", "(uid=alice)", "must contain %s" },
      { "user_filter", "(uid=%x)", "placeholder" },
      { "group_filter", "(member=%s)", "placeholder" },
      { "group_filter", "(objectClass=groupOfNames)", "must contain %dn or %u" },
      { "role_map", "we-admins=root", "role_map entry" },
      { "role_map", "we-admins", "role_map entry" },
      { "role_map", "cn=a,,=admin", "not a DN" },
      { "default_role", "admin", "default_role must be 'none' or 'viewer'" },
      { "timeout_s", "0", "timeout_s" },
      { "cache_ttl_s", "-1", "cache_ttl_s" },
      { "user_base", "", "'user_base' is required" },
      { "bind_password_secret_ref", "", "bind_dn needs bind_password_secret_ref" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
      reset_config (fx, good);
      set_str (fx, cases[i].key, cases[i].value);
      g_test_message ("%s=%s", cases[i].key, cases[i].value);
      assert_config_refused (fx, cases[i].reason);
    }
  }
  /* StartTLS over TLS */
  reset_config (fx, good);
  {
    g_autofree gchar *ldaps = g_strdup_printf ("ldaps://127.0.0.1:%u/", fx->slapd.ldaps_port);
    set_str (fx, "url", ldaps);
    json_object_set_boolean_member (fx->config, "starttls", TRUE);
    assert_config_refused (fx, "starttls makes no sense");
  }
  /* role_map as a JSON object and array */
  {
    g_autoptr(JsonObject) map = json_object_new ();
    g_autoptr(WeIdentity) ada = NULL;
    g_autofree gchar *u = url (fx);
    JsonArray *array = json_array_new ();

    set_str (fx, "url", u);
    json_object_set_string_member (map, "we-admins", "admin");
    json_object_set_object_member (fx->config, "role_map", json_object_ref (map));
    load (fx);
    ada = login_ok (fx, "ada");
    g_assert_cmpint (ada->role, ==, WE_ROLE_ADMIN);
    g_clear_pointer (&ada, we_identity_free);
    json_array_add_string_element (array, "cn=we-operators," GROUPS "=operator");
    json_object_set_array_member (fx->config, "role_map", array);
    load (fx);
    /* ada is no operator: in no mapped group now */
    assert_refused (fx, "ada", "ada-Secret-1", WE_ERROR_AUTH_FORBIDDEN);
    ada = login_ok (fx, "otto");
    g_assert_cmpint (ada->role, ==, WE_ROLE_OPERATOR);
  }

  /* installed but not configured: loads, stands aside */
  g_clear_pointer (&fx->config, json_object_unref);
  fx->config = json_object_new ();
  load (fx);
  identity = we_auth_provider_authenticate (fx->auth, &basic, &error);
  g_assert_null (identity);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  users = we_auth_provider_list_users (fx->auth, WE_ROLE_NONE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (users->len, ==, 0);
}

int
main (int argc, char **argv)
{
  gint ret;

  log_text = g_string_new (NULL);
  g_log_set_writer_func (log_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  /* refusals and an unreachable directory are logged as warnings on
   * purpose; only criticals are bugs */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

  g_test_add ("/auth-ldap/roles", Fixture, NULL, fixture_setup, test_roles, fixture_teardown);
  g_test_add ("/auth-ldap/no-group", Fixture, NULL, fixture_setup, test_no_group,
              fixture_teardown);
  g_test_add ("/auth-ldap/bad-credentials", Fixture, NULL, fixture_setup, test_bad_credentials,
              fixture_teardown);
  g_test_add ("/auth-ldap/injection", Fixture, NULL, fixture_setup, test_injection,
              fixture_teardown);
  g_test_add ("/auth-ldap/cache-and-logout", Fixture, NULL, fixture_setup,
              test_cache_and_logout, fixture_teardown);
  g_test_add ("/auth-ldap/directory-down", Fixture, NULL, fixture_setup, test_directory_down,
              fixture_teardown);
  g_test_add ("/auth-ldap/tls", Fixture, NULL, fixture_setup, test_tls, fixture_teardown);
  g_test_add ("/auth-ldap/starttls-without-tls", Fixture, NULL, fixture_setup_plain,
              test_starttls_without_tls, fixture_teardown);
  g_test_add ("/auth-ldap/list-users", Fixture, NULL, fixture_setup, test_list_users,
              fixture_teardown);
  g_test_add ("/auth-ldap/profile", Fixture, NULL, fixture_setup, test_profile,
              fixture_teardown);
  g_test_add ("/auth-ldap/config", Fixture, NULL, fixture_setup, test_config, fixture_teardown);
  ret = g_test_run ();
  if (cert_dir != NULL)
    remove_tree (cert_dir);
  g_free (cert_dir);
  return ret;
}
