/* cointrail serve-key: make an API key for `cointrail serve` and the key-file line that stores
 * its hash (docs/screening.md, "Keys"). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../serve/serve.h"
#include "cli.h"

static const char *usage =
    "usage: cointrail serve-key --owner NAME (--scopes LIST | --role ROLE) [--key-file FILE]\n"
    "                           [--hash]\n"
    "  Makes a random API key (32 bytes, base64url, never beginning with -) and prints it once\n"
    "  on stdout: it is not stored anywhere. The key-file line holding its SHA-256\n"
    "  (sha256:HEX owner=NAME scopes=LIST) is appended to FILE (created 0600) or, without\n"
    "  --key-file, printed as a second line. LIST: read, screen, watch, write, admin,\n"
    "  comma-separated. ROLE: read (read,screen), analyst (read,screen,watch,write) or admin\n"
    "  (all): the line then says role=ROLE (docs/webui.md, \"Roles\").\n"
    "  --hash: hash a key read from stdin instead (to move a plaintext key file to hashes);\n"
    "  nothing but the line is printed.\n";

/* Append line to file with one write(); refuse a file others may change. */
static int append_line(const char *file, const char *line)
{
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "cointrail: %s: %s\n", file, strerror(errno));
        if (fd >= 0) close(fd);
        return CLI_ERROR;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        fprintf(stderr, "cointrail: %s: mode %04o lets other users change the keys: chmod go-w\n",
                file, (unsigned)(st.st_mode & 07777));
        close(fd);
        return CLI_ERROR;
    }
    size_t n = strlen(line);
    char buf[SERVE_KEY_LINE_MAX + 1];
    memcpy(buf, line, n);
    buf[n] = '\n';
    int bad = write(fd, buf, n + 1) != (ssize_t)(n + 1) || fsync(fd) < 0;
    if (bad) fprintf(stderr, "cointrail: %s: cannot write: %s\n", file, strerror(errno));
    close(fd);
    return bad ? CLI_ERROR : CLI_OK;
}

int cmd_serve_key(int argc, char **argv)
{
    const char *owner = NULL, *scopes = NULL, *role = NULL, *file = NULL;
    int hash = 0;
    static const struct option opts[] = {{"owner", required_argument, 0, 'o'},
                                         {"scopes", required_argument, 0, 's'},
                                         {"role", required_argument, 0, 'r'},
                                         {"key-file", required_argument, 0, 'f'},
                                         {"hash", no_argument, 0, 'H'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            owner = optarg;
            break;
        case 's':
            scopes = optarg;
            break;
        case 'r':
            role = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'H':
            hash = 1;
            break;
        default:
            return cli_usage(usage, ch == 'h');
        }
    }
    if (!owner || !scopes == !role || optind != argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    char key[SERVE_KEY_MAX] = "", line[SERVE_KEY_LINE_MAX];
    if (hash) {
        if (!fgets(key, sizeof key, stdin)) {
            fprintf(stderr, "cointrail: --hash: no key on stdin\n");
            return CLI_USAGE;
        }
        size_t n = strcspn(key, "\r\n");
        if (!key[n] && !feof(stdin)) {
            fprintf(stderr, "cointrail: --hash: the key on stdin is over %d characters\n",
                    SERVE_KEY_MAX - 1);
            return CLI_USAGE;
        }
        key[n] = 0;
    }
    util_err err = {0};
    int rc = serve_key_make_line(hash ? key : NULL, owner, role ? "role" : "scopes",
                                 role ? role : scopes, key, line, &err);
    if (rc) return cli_fail(&err);
    if (file) {
        rc = append_line(file, line);
        if (!rc && !hash) printf("%s\n", key);
    } else {
        if (!hash) printf("%s\n", key);
        printf("%s\n", line);
    }
    memset(key, 0, sizeof key);
    return rc;
}
