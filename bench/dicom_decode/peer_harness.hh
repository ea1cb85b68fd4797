// peer_harness.hh - what the DCMTK and GDCM peers of the decode benchmark
// share: list FOLDER, split the files statically between THREADS
// std::threads (like the Nova side's pool), run RUNS times, and print the
// median wall time, CPU seconds per run and a checksum of all samples.
// Each peer supplies only its decode_one(path, fails) -> sample sum.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

// User + system CPU seconds of the whole process so far.
static double cpu_seconds()
{
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

template <typename Decode>
static int run_peer(const char *name, int argc, char **argv, Decode decode_one)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: bench_%s FOLDER THREADS RUNS\n", name);
        return 2;
    }
    int threads = std::atoi(argv[2]), runs = std::atoi(argv[3]);
    std::vector<std::string> files;
    DIR *d = opendir(argv[1]);
    if (!d)
        return 1;
    while (dirent *e = readdir(d))
        if (e->d_name[0] != '.')
            files.push_back(std::string(argv[1]) + "/" + e->d_name);
    closedir(d);
    std::sort(files.begin(), files.end());
    std::vector<uint64_t> sums(files.size());
    std::vector<double> times;
    std::atomic<int> fails{0};
    double cpu0 = cpu_seconds();
    for (int r = 0; r < runs; r++) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; t++)
            pool.emplace_back([&, t] {
                for (size_t i = t; i < files.size(); i += threads)
                    sums[i] = decode_one(files[i], fails);
            });
        for (auto &th : pool)
            th.join();
        times.push_back(std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - t0)
                            .count());
    }
    double cpu = (cpu_seconds() - cpu0) / runs;
    std::sort(times.begin(), times.end());
    uint64_t total = 0;
    for (uint64_t s : sums)
        total += s;
    std::printf("%s files=%zu threads=%d median_s=%.4f cpu_s=%.4f "
                "checksum=%llu failures=%d\n",
                name, files.size(), threads, times[times.size() / 2], cpu,
                (unsigned long long)total, fails.load());
    return fails.load() ? 1 : 0;
}
