/*
 * floor.c: the least any scraper must do with the fleet's bytes, to show
 * what part of promflux's CPU is the bytes' own cost.
 *
 *   floor -c CONF [--line-bytes N]
 *
 * CONF is a promflux configuration as bench/ab and bench/scale-bench write
 * it: "interval = Nms", one "url = http://127.0.0.1:PORT/PATH" per target
 * in the job, and the [output] "url = http://127.0.0.1:PORT" of a
 * bench/countsink. floor then does what promflux does, minus everything
 * that is not moving bytes: one keep-alive TCP connection per target, a
 * GET of libcurl's size every interval (targets spread over the interval
 * as promflux spreads them), the response read whole with read() into one
 * 64 KiB buffer, its lines found (memchr) and the sample lines counted, and
 * for every sample plus one "up" line, a line of --line-bytes bytes
 * (default 119, what promflux writes for the bench payload in telegraf-v1
 * with its url and host tags: countsink's raw_bytes / lines) POSTed to the sink in batches of at most
 * 5,000 lines or 1 MiB or after 1 s, as promflux batches, from one constant buffer (no
 * encoding, no copy in user space). No parsing, mapping, encoding, HTTP
 * library, queue, retry or spool. Raw epoll, no libuv.
 *
 * Run beside promflux by bench/ab (--b build/release/bench/floor): the same
 * fleet, the same sinks' line counts, the same CPU accounting. On SIGTERM
 * or SIGINT it prints "scrapes N samples N bytes N missed N failed N".
 * Only loopback addresses are used; it is a benchmark tool, not a client:
 * a target that answers anything but a Content-Length body is counted as
 * failed and reconnected.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH_LINES 5000
#define BATCH_BYTES (1u << 20)
#define FLUSH_MS 1000

typedef struct conn {
	int fd;
	int port;
	char *req;        /* the request, sent whole */
	size_t reqlen;
	int busy;         /* a request is out, its answer not read yet */
	char head[4096];  /* the response's headers so far */
	size_t hlen;
	long long left;   /* body bytes still to come, -1 while in headers */
	int line_start;   /* the last byte seen ended a line */
} conn;

static conn *targets;
static size_t ntargets;
static conn sink;
static const char *sink_path = "/write?db=bench";
static char *lp;          /* constant line protocol, BATCH_BYTES + a line */
static size_t line_bytes = 119;
static uint64_t pending;  /* lines not yet POSTed */
static int64_t pending_since; /* when the first of them came, ms */
static uint64_t scrapes, samples, bytes_in, missed, failed;
static volatile sig_atomic_t stop;
static int ep;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS)
		die("connect");
	return fd;
}

static void watch(conn *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	if (epoll_ctl(ep, op, c->fd, &ev) != 0)
		die("epoll_ctl");
}

static void redial(conn *c)
{
	close(c->fd);
	c->fd = dial(c->port);
	c->busy = 0;
	watch(c, EPOLLIN, EPOLL_CTL_ADD);
}

/* Sends all of b (blocking in effect: loopback, small requests, and a
 * sink that reads as fast as it can). Returns 0 or -1. */
static int send_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				(void)poll(&pfd, 1, 1000);
				continue;
			}
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* POSTs one batch when the sink is free and a batch is full or its first
 * line has waited FLUSH_MS, as promflux's batcher does. */
static void post(void)
{
	uint64_t lines = BATCH_LINES;
	if (lines * line_bytes > BATCH_BYTES)
		lines = BATCH_BYTES / line_bytes;
	if (sink.busy || pending == 0 || (pending < lines && now_ms() - pending_since < FLUSH_MS))
		return;
	if (pending < lines)
		lines = pending;
	size_t n = (size_t)lines * line_bytes;
	char head[256];
	int hl = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			  "User-Agent: floor\r\nContent-Type: text/plain; charset=utf-8\r\n"
			  "Content-Length: %zu\r\n\r\n", sink_path, sink.port, n);
	if (send_all(sink.fd, head, (size_t)hl) != 0 || send_all(sink.fd, lp, n) != 0)
		die("sink send");
	pending -= lines;
	pending_since = now_ms();
	sink.busy = 1;
	sink.hlen = 0;
	sink.left = -1;
}

/* Lines in b[0..n) that start a sample (not '#', not empty). */
static uint64_t count_samples(conn *c, const char *b, size_t n)
{
	uint64_t k = 0;
	const char *e = b + n;
	while (b < e) {
		if (c->line_start && *b != '#' && *b != '\n')
			k++;
		const char *nl = memchr(b, '\n', (size_t)(e - b));
		if (nl == NULL) {
			c->line_start = 0;
			break;
		}
		c->line_start = 1;
		b = nl + 1;
	}
	return k;
}

/* Reads what c has; finishes its response when complete. */
static void on_readable(conn *c, char *buf, size_t cap)
{
	for (;;) {
		ssize_t r = read(c->fd, buf, cap);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			if (c == &sink)
				die("sink closed");
			if (c->busy)
				failed++;
			redial(c);
			return;
		}
		bytes_in += (uint64_t)r;
		size_t off = 0;
		if (c->left < 0) {
			size_t take = (size_t)r < sizeof(c->head) - c->hlen ? (size_t)r : sizeof(c->head) - c->hlen;
			memcpy(c->head + c->hlen, buf, take);
			size_t old = c->hlen;
			c->hlen += take;
			char *end = memmem(c->head, c->hlen, "\r\n\r\n", 4);
			if (end == NULL) {
				if (c->hlen == sizeof(c->head))
					goto bad;
				continue;
			}
			size_t hl = (size_t)(end - c->head) + 4;
			char *cl = memmem(c->head, hl, "Content-Length:", 15);
			if (cl != NULL)
				c->left = strtoll(cl + 15, NULL, 10);
			else if (hl > 12 && memcmp(c->head + 9, "204", 3) == 0)
				c->left = 0; /* the sink's answer */
			else
				goto bad;
			off = hl - old;
			c->line_start = 1;
		}
		size_t body = (size_t)r - off;
		if ((long long)body > c->left)
			goto bad;
		if (c != &sink)
			samples += count_samples(c, buf + off, body);
		c->left -= (long long)body;
		if (c->left == 0) {
			c->busy = 0;
			c->left = -1;
			c->hlen = 0;
			if (c == &sink) {
				post();
			} else {
				scrapes++;
				if (pending == 0)
					pending_since = now_ms();
				pending += 1; /* its "up" line */
				post();
			}
		}
	}
bad:
	if (c == &sink)
		die("sink answered what floor cannot read");
	failed++;
	redial(c);
}

static void scrape(conn *c)
{
	if (c->busy) {
		missed++;
		return;
	}
	if (send_all(c->fd, c->req, c->reqlen) != 0) {
		failed++;
		redial(c);
		return;
	}
	c->busy = 1;
	c->hlen = 0;
	c->left = -1;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* "url = http://127.0.0.1:PORT/PATH" -> port and path; 0 or -1. */
static int parse_url(const char *v, int *port, const char **path)
{
	const char *p = strstr(v, "://");
	if (p == NULL || (p = strchr(p + 3, ':')) == NULL)
		return -1;
	*port = atoi(p + 1);
	const char *s = strchr(p, '/');
	*path = s ? s : "/";
	return *port > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf = argv[++i];
		else if (strcmp(argv[i], "--line-bytes") == 0 && i + 1 < argc)
			line_bytes = (size_t)atol(argv[++i]);
		else {
			fprintf(stderr, "usage: floor -c CONF [--line-bytes N]\n");
			return 2;
		}
	}
	if (conf == NULL || line_bytes < 8 || line_bytes > 4096) {
		fprintf(stderr, "usage: floor -c CONF [--line-bytes N] (8..4096)\n");
		return 2;
	}
	FILE *f = fopen(conf, "r");
	if (f == NULL)
		die(conf);
	char line[4096];
	int in_output = 0;
	long interval_ms = 0;
	size_t cap = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] == '[') {
			in_output = strncmp(line, "[output", 7) == 0;
			continue;
		}
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		char *v = eq + 1;
		while (*v == ' ')
			v++;
		if (strncmp(line, "interval", 8) == 0) {
			interval_ms = strtol(v, NULL, 10); /* "5000ms" */
		} else if (strncmp(line, "url", 3) == 0) {
			int port;
			const char *path;
			if (parse_url(v, &port, &path) != 0) {
				fprintf(stderr, "floor: %s: cannot read url '%s'\n", conf, v);
				return 1;
			}
			if (in_output) {
				sink.port = port;
				continue;
			}
			if (ntargets == cap) {
				cap = cap ? cap * 2 : 1024;
				targets = realloc(targets, cap * sizeof(*targets));
				if (targets == NULL)
					die("realloc");
			}
			conn *c = &targets[ntargets++];
			memset(c, 0, sizeof(*c));
			c->port = port;
			char req[512];
			int n = snprintf(req, sizeof(req),
					 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: promflux/0.1\r\n"
					 "Accept: application/openmetrics-text;version=1.0.0;q=0.5,"
					 "text/plain;version=0.0.4;q=0.4,*/*;q=0.1\r\n"
					 "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n", path, port);
			c->req = strdup(req);
			c->reqlen = (size_t)n;
		}
	}
	fclose(f);
	if (ntargets == 0 || interval_ms <= 0 || sink.port == 0) {
		fprintf(stderr, "floor: %s: needs targets, an interval in ms and an [output] url\n", conf);
		return 1;
	}

	lp = malloc(BATCH_BYTES + line_bytes);
	if (lp == NULL)
		die("malloc");
	for (size_t i = 0; i + line_bytes <= BATCH_BYTES + line_bytes; i += line_bytes) {
		memset(lp + i, 'x', line_bytes - 1);
		memcpy(lp + i, "floor,t=", 8);
		lp[i + line_bytes - 1] = '\n';
	}

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1");
	sink.fd = dial(sink.port);
	sink.left = -1;
	watch(&sink, EPOLLIN, EPOLL_CTL_ADD);
	for (size_t i = 0; i < ntargets; i++) {
		targets[i].fd = dial(targets[i].port);
		targets[i].left = -1;
		watch(&targets[i], EPOLLIN, EPOLL_CTL_ADD);
	}

	static char buf[65536];
	int64_t t0 = now_ms() + 100;
	uint64_t tick = 0; /* scrapes started, over all targets and rounds */
	while (!stop) {
		/* Start every scrape that is due: target tick % n in round tick / n. */
		int64_t now = now_ms();
		for (;;) {
			uint64_t round = tick / ntargets, i = tick % ntargets;
			int64_t due = t0 + (int64_t)round * interval_ms + (int64_t)(i * (uint64_t)interval_ms / ntargets);
			if (due > now)
				break;
			scrape(&targets[i]);
			tick++;
		}
		uint64_t round = tick / ntargets, i = tick % ntargets;
		int64_t due = t0 + (int64_t)round * interval_ms + (int64_t)(i * (uint64_t)interval_ms / ntargets);
		int wait = (int)(due - now_ms());
		if (pending && wait > FLUSH_MS / 4)
			wait = FLUSH_MS / 4;
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, wait < 0 ? 0 : wait);
		for (int k = 0; k < n; k++) {
			conn *c = evs[k].data.ptr;
			uint64_t before = samples;
			on_readable(c, buf, sizeof(buf));
			pending += samples - before; /* a line per sample */
			post();
		}
		post(); /* a batch whose time has come */
	}
	printf("scrapes %llu samples %llu bytes %llu missed %llu failed %llu\n",
	       (unsigned long long)scrapes, (unsigned long long)samples, (unsigned long long)bytes_in,
	       (unsigned long long)missed, (unsigned long long)failed);
	return 0;
}
