/*
 * replay.c: the fuzz harness without libFuzzer.  Runs every file named,
 * and every file in every directory named, through it once; `make check`
 * runs it over tests/fuzz/corpus and tests/fuzz/regressions so that what
 * the fuzzer once found stays fixed.  A finding aborts (the harness says
 * what and the sanitizers where); the file is named first.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static unsigned	 replayed;

static void
replay_file(const char *path)
{
	FILE	*f;
	uint8_t	*data = NULL, *bigger;
	size_t	 len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path,
		    strerror(errno));
		exit(1);
	}
	do {
		if (len == cap) {
			cap = cap == 0 ? 65536 : 2 * cap;
			if ((bigger = realloc(data, cap)) == NULL) {
				fprintf(stderr, "replay: out of memory for "
				    "%s\n", path);
				exit(1);
			}
			data = bigger;
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	replayed++;
}

static void
replay_dir(const char *dir)
{
	struct dirent	**names;
	char		 path[4096];
	int		 i, n;

	if ((n = scandir(dir, &names, NULL, alphasort)) == -1) {
		fprintf(stderr, "replay: cannot list %s: %s\n", dir,
		    strerror(errno));
		exit(1);
	}
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir,
			    names[i]->d_name);
			replay_file(path);
		}
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char *argv[])
{
	struct stat	 st;
	int		 i;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode))
			replay_dir(argv[i]);
		else
			replay_file(argv[i]);
	}
	printf("fuzz replay: %u inputs, no findings\n", replayed);
	return 0;
}
