/* httpd.c: being written (issue 4/6). */
