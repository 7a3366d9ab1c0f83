/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The WebEncode plugin SDK: include this one header.
 */
#pragma once

#include "we-plugin.h"
