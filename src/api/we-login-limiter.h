/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Rate limiting of failed logins (WE-SYS-005): a client address that fails
 * authentication @max_failures times within @window_s seconds is refused for
 * the rest of the window, before any provider (bcrypt, LDAP, the IdP) is asked
 * again. A success does not reset the count: one good account must not let
 * an address keep guessing the passwords of others. Main loop only.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _WeLoginLimiter WeLoginLimiter;

WeLoginLimiter *we_login_limiter_new     (guint max_failures, guint window_s);
void            we_login_limiter_free    (WeLoginLimiter *self);
/* 0 when @client may try; otherwise seconds until it may try again.
 * @now_us: monotonic time. */
guint           we_login_limiter_check   (WeLoginLimiter *self, const gchar *client,
                                          gint64 now_us);
void            we_login_limiter_failed  (WeLoginLimiter *self, const gchar *client,
                                          gint64 now_us);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeLoginLimiter, we_login_limiter_free)

G_END_DECLS
