/* Small helpers shared by the daemon's files. */
#pragma once

#define _cleanup_(f) __attribute__((cleanup(f)))
