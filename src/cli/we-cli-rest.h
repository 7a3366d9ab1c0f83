/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The CLI's operations over webencoded's REST API (WeCliClient).
 */
#pragma once

#include "we-cli-backend.h"

G_BEGIN_DECLS

#define WE_TYPE_CLI_REST (we_cli_rest_get_type ())
G_DECLARE_FINAL_TYPE (WeCliRest, we_cli_rest, WE, CLI_REST, GObject)

/* Takes a reference on @client. */
WeCliRest *we_cli_rest_new (WeCliClient *client);

G_END_DECLS
