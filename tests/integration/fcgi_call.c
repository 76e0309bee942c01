/*
 * fcgi_call.c: a minimal FastCGI client for the API tests: sends one
 * request straight to vkv-api's unix socket, bypassing nginx, so the tests
 * can prove that vkv-api enforces its own limits (negative, oversized or
 * lying CONTENT_LENGTH) and does not rely on nginx for them.
 *
 *   api_fcgi_call SOCKET BODY_FILE|- NAME=VALUE ...
 *
 * The params are sent as given (nothing is added); the body file's bytes
 * go to FCGI_STDIN (whatever CONTENT_LENGTH says).  Prints the application's
 * stdout records (the CGI response: "Status: ..." headers, blank line,
 * body) and exits 0 when an END_REQUEST arrived, 1 otherwise.  Every read
 * has a 10 s timeout.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { T_BEGIN = 1, T_END = 3, T_PARAMS = 4, T_STDIN = 5, T_STDOUT = 6, T_STDERR = 7 };

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static int record(int fd, int type, const void *data, size_t n)
{
    unsigned char h[8] = {
        1, (unsigned char)type, 0, 1, (unsigned char)(n >> 8), (unsigned char)(n & 255), 0, 0};
    if (write_all(fd, h, 8) != 0)
        return -1;
    return n ? write_all(fd, data, n) : 0;
}

static int read_full(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 10000) <= 0)
            return -1;
        ssize_t k = read(fd, c, n);
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static size_t put_len(unsigned char *b, size_t n)
{
    if (n < 128) {
        b[0] = (unsigned char)n;
        return 1;
    }
    b[0] = (unsigned char)((n >> 24) | 0x80);
    b[1] = (unsigned char)(n >> 16);
    b[2] = (unsigned char)(n >> 8);
    b[3] = (unsigned char)n;
    return 4;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SOCKET BODY_FILE|- NAME=VALUE...\n", argv[0]);
        return 2;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("connect");
        return 1;
    }
    unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0}; /* responder, no keep-conn */
    record(fd, T_BEGIN, begin, 8);
    for (int i = 3; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (eq == NULL)
            continue;
        size_t nl = (size_t)(eq - argv[i]), vl = strlen(eq + 1);
        if (nl + vl > 60000)
            return 2;
        unsigned char buf[65536];
        size_t k = put_len(buf, nl);
        k += put_len(buf + k, vl);
        memcpy(buf + k, argv[i], nl);
        memcpy(buf + k + nl, eq + 1, vl);
        record(fd, T_PARAMS, buf, k + nl + vl);
    }
    record(fd, T_PARAMS, NULL, 0);
    if (strcmp(argv[2], "-") != 0) {
        FILE *f = fopen(argv[2], "rb");
        if (f == NULL) {
            perror(argv[2]);
            return 2;
        }
        char buf[32768];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            if (record(fd, T_STDIN, buf, n) != 0)
                break;
        fclose(f);
    }
    record(fd, T_STDIN, NULL, 0);
    for (int guard = 0; guard < 100000; guard++) {
        unsigned char h[8];
        if (read_full(fd, h, 8) != 0)
            break;
        size_t len = ((size_t)h[4] << 8) | h[5], pad = h[6];
        char body[65536 + 256];
        if (read_full(fd, body, len + pad) != 0)
            break;
        if (h[1] == T_STDOUT)
            fwrite(body, 1, len, stdout);
        else if (h[1] == T_STDERR)
            fwrite(body, 1, len, stderr);
        else if (h[1] == T_END) {
            close(fd);
            return 0;
        }
    }
    close(fd);
    return 1;
}
