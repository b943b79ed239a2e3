/*
 * sink.c: the stdout and file sinks, and the InfluxDB sink's shell around
 * its pf_writer (see sink.h).
 *
 * Both write synchronously: a local file or a pipe takes a scrape's few
 * hundred kilobytes in well under a millisecond, and a write that blocks
 * (a full pipe) is the reader's back-pressure, as for any Unix filter.
 * SIGPIPE is ignored by the daemon, so a closed reader shows up here as
 * EPIPE, logged once, not as death by signal.
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

enum kind { K_STDOUT, K_FILE, K_INFLUX };

struct pf_sink {
	uv_timer_t timer;       /* first: the handle's data is the sink */
	enum kind kind;
	int fd;
	char *name;
	char *path;
	pf_writer *w;           /* K_INFLUX */
	char kv[256];           /* output=NAME for log lines */
	pf_ratelimit rl;
	int last_errno;         /* the error last logged, so EPIPE is said once */
	int torn;               /* a failed write left a partial line in the output */
	pf_sink_stats st;
	void (*done)(void *ud);
	void *done_ud;
};

static pf_sink *sink_new(uv_loop_t *loop, enum kind k, const char *name)
{
	pf_sink *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->kind = k;
	s->fd = -1;
	s->name = strdup(name ? name : "stdout");
	if (s->name == NULL || uv_timer_init(loop, &s->timer) != 0) {
		free(s->name);
		free(s);
		return NULL;
	}
	s->timer.data = s;
	snprintf(s->kv, sizeof(s->kv), "output=%s", s->name);
	return s;
}

/* Frees what the sink owns; its handle is closed. */
static void free_cb(uv_handle_t *h)
{
	pf_sink *s = h->data;
	free(s->name);
	free(s->path);
	free(s);
}

pf_sink *pf_sink_stdout_new(uv_loop_t *loop, const char *name)
{
	pf_sink *s = sink_new(loop, K_STDOUT, name);
	if (s != NULL)
		s->fd = STDOUT_FILENO;
	return s;
}

static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

pf_sink *pf_sink_file_new(uv_loop_t *loop, const char *name, const char *path, int *err)
{
	/* Open first, so that a failure leaves no handle to close. */
	int fd = open_file(path);
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	char *p = strdup(path);
	pf_sink *s = p ? sink_new(loop, K_FILE, name) : NULL;
	if (s == NULL) {
		free(p);
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	s->path = p;
	s->fd = fd;
	*err = 0;
	return s;
}

pf_sink *pf_sink_influx_new(uv_loop_t *loop, const pf_output *o, const pf_writer_opts *wo, char *err,
			    size_t errcap)
{
	pf_writer *w = pf_writer_new(loop, o, wo, err, errcap);
	if (w == NULL)
		return NULL;
	pf_sink *s = sink_new(loop, K_INFLUX, o->name);
	if (s == NULL) {
		snprintf(err, errcap, "out of memory");
		pf_writer_close(w, NULL, NULL);
		return NULL;
	}
	s->w = w;
	return s;
}

const pf_writer_stats *pf_sink_writer_stats(pf_sink *s)
{
	return s->kind == K_INFLUX ? pf_writer_get_stats(s->w) : NULL;
}

pf_writer *pf_sink_writer(pf_sink *s)
{
	return s->kind == K_INFLUX ? s->w : NULL;
}

static uint64_t now_ms(pf_sink *s)
{
	return uv_now(s->timer.loop);
}

/* An InfluxDB sink's counters after a write of n bytes that returned rc. */
static int counted(pf_sink *s, size_t n, int rc)
{
	if (rc != 0)
		s->st.errors++;
	s->st.writes++;
	s->st.bytes += n;
	return rc;
}

int pf_sink_write_buf(pf_sink *s, pf_buf *out, size_t lines)
{
	size_t n = out->len;
	if (s->kind == K_INFLUX)
		return counted(s, n, pf_writer_write_buf(s->w, out, lines));
	int rc = pf_sink_write(s, out->data, n, lines);
	pf_buf_reset(out);
	return rc;
}

int pf_sink_write(pf_sink *s, const char *lp, size_t n, size_t lines)
{
	if (s->kind == K_INFLUX)
		return counted(s, n, pf_writer_write(s->w, lp, n, lines));
	size_t off = 0;
	if (s->torn && n) {
		/* The last write stopped inside a line: end that line first, so
		 * that only it is broken, not also the first line of this one. */
		if (write(s->fd, "\n", 1) == 1)
			s->torn = 0;
	}
	while (off < n) {
		ssize_t w = write(s->fd, lp + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 || w == 0) {
			int e = w < 0 ? errno : EIO;
			s->st.errors++;
			unsigned sup = 0;
			/* EPIPE stays EPIPE: say it once, not every scrape. */
			if ((e != s->last_errno || e != EPIPE) &&
			    pf_ratelimit_ok(&s->rl, now_ms(s), 1, 300000, &sup))
				pf_log(PF_LOG_ERROR, s->kv, "write to %s failed: %s; %zu bytes of line protocol "
				       "lost%s", s->path ? s->path : "stdout", strerror(e), n - off,
				       sup ? " (repeated errors suppressed)" : "");
			s->last_errno = e;
			s->torn = off > 0 && lp[off - 1] != '\n';
			return -e;
		}
		off += (size_t)w;
	}
	if (s->last_errno) {
		pf_log(PF_LOG_INFO, s->kv, "writing works again");
		s->last_errno = 0;
	}
	s->st.writes++;
	s->st.bytes += n;
	return 0;
}

int pf_sink_reopen(pf_sink *s)
{
	if (s->kind != K_FILE)
		return 0;
	int fd = open_file(s->path);
	if (fd < 0) {
		pf_log(PF_LOG_ERROR, s->kv, "reopening %s failed: %s; still writing to the old file",
		       s->path, strerror(-fd));
		return fd;
	}
	close(s->fd);
	s->fd = fd;
	pf_log(PF_LOG_INFO, s->kv, "reopened %s", s->path);
	return 0;
}

int pf_sink_flush(pf_sink *s)
{
	/* stdout and file: nothing is queued, every write went out at once */
	if (s->kind == K_INFLUX)
		pf_writer_flush(s->w);
	return 0;
}

const pf_sink_stats *pf_sink_get_stats(const pf_sink *s)
{
	return &s->st;
}

const char *pf_sink_name(const pf_sink *s)
{
	return s->name;
}

static void close_cb(uv_handle_t *h)
{
	pf_sink *s = h->data;
	if (s->done)
		s->done(s->done_ud);
	free_cb(h);
}

/* The writer delivered what it could and is gone. */
static void writer_closed(void *ud)
{
	pf_sink *s = ud;
	s->w = NULL;
	uv_close((uv_handle_t *)&s->timer, close_cb);
}

void pf_sink_close(pf_sink *s, void (*done)(void *ud), void *ud)
{
	if (s->kind == K_INFLUX) {
		s->done = done;
		s->done_ud = ud;
		pf_writer_close(s->w, writer_closed, s);
		return;
	}
	pf_sink_flush(s);
	if (s->kind == K_FILE && s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->done = done;
	s->done_ud = ud;
	uv_close((uv_handle_t *)&s->timer, close_cb);
}
