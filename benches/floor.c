/* The floor for `help` and static `configs`: the least a compiled program can do to print
 * the same JSON object (benches/run compiles it with gcc -O2 and times vps-provider against
 * it). No file is read: the menu is benches/providers/benchstatic.yaml's, written in. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "help") == 0) {
        fputs("{\"options\":[\"help\",\"configs\",\"order\",\"order_status\"],"
              "\"status\":\"enabled\"}\n", stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "configs") == 0) {
        fputs("{\"configurations\":["
              "{\"id\":\"1\",\"descr\":\"Bitrix-env, Rocky Linux 9, 1 vCPU, 2 GB RAM, 40 GB SSD, 4.50 EUR/month\"},"
              "{\"id\":\"2\",\"descr\":\"Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 80 GB SSD, 9.00 EUR/month\"},"
              "{\"id\":\"3\",\"descr\":\"Bitrix-env, Rocky Linux 9, 4 vCPU, 8 GB RAM, 160 GB SSD, 18.25 EUR/month\"}"
              "],\"status\":\"enabled\"}\n", stdout);
        return 0;
    }
    fputs("{\"error\":1,\"error_message\":\"the floor answers only help and configs\"}\n", stdout);
    return 1;
}
