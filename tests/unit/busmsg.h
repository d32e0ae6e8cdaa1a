/* Builds sealed D-Bus messages without a bus daemon: a connected pair of
 * sd-bus objects over a socketpair is enough for sd-bus to create messages. */
#pragma once
#include <glib.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

static inline sd_bus *test_bus(void)
{
	static sd_bus *bus, *server;   /* kept for the whole test program */
	sd_id128_t id;
	int fds[2];

	if (bus)
		return bus;
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	g_assert_cmpint(sd_id128_randomize(&id), >=, 0);
	g_assert_cmpint(sd_bus_new(&server), >=, 0);
	g_assert_cmpint(sd_bus_set_fd(server, fds[0], fds[0]), >=, 0);
	g_assert_cmpint(sd_bus_set_server(server, 1, id), >=, 0);
	g_assert_cmpint(sd_bus_start(server), >=, 0);
	g_assert_cmpint(sd_bus_new(&bus), >=, 0);
	g_assert_cmpint(sd_bus_set_fd(bus, fds[1], fds[1]), >=, 0);
	g_assert_cmpint(sd_bus_start(bus), >=, 0);
	return bus;
}

/* A method call whose body is appended by the caller, then sealed and rewound. */
static inline sd_bus_message *new_call(void)
{
	sd_bus_message *m;
	g_assert_cmpint(sd_bus_message_new_method_call(test_bus(), &m, "org.example.Connections",
						       "/org/example/Connections",
						       "org.example.Connections", "List"), >=, 0);
	return m;
}

static inline void seal(sd_bus_message *m)
{
	static uint64_t cookie = 1;
	g_assert_cmpint(sd_bus_message_seal(m, cookie++, 0), >=, 0);
	g_assert_cmpint(sd_bus_message_rewind(m, 1), >=, 0);
}
