/* Command-line options that take a value, for tierpage's programs. */
#ifndef TIERPAGE_OPTION_VALUE_H
#define TIERPAGE_OPTION_VALUE_H

/* Matches argv[*i] as "--name VALUE" or "--name=VALUE": returns 1 and sets
 * *value (NULL when VALUE is missing), advancing *i past a separate VALUE;
 * returns 0 when argv[*i] is another option. */
int tp_option_value(int argc, char **argv, int *i, const char *name, const char **value);

#endif
