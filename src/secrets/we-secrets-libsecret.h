/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The desktop secrets backend: the freedesktop Secret Service (GNOME
 * Keyring, KWallet) through libsecret, items of schema
 * "org.webencode.Secret" told apart by their "ref" attribute. Reference
 * "secret-service:<name>" (or "<name>" when this is the default backend).
 * Connects to the session bus on first use; lookups block on D-Bus (and may
 * wait for the user to unlock the keyring): call them from a worker thread.
 */
#pragma once

#include <webencode/we-secrets.h>

G_BEGIN_DECLS

#define WE_TYPE_SECRETS_LIBSECRET (we_secrets_libsecret_get_type ())
G_DECLARE_FINAL_TYPE (WeSecretsLibsecret, we_secrets_libsecret, WE, SECRETS_LIBSECRET, GObject)

WeSecretsLibsecret *we_secrets_libsecret_new (void);

G_END_DECLS
