// Runs the UNMODIFIED node-disconf-client against a disconf server and reports what it sees
// as one JSON object per line on stdout (the Python test reads them). Settings come from the
// environment so the test decides everything.
'use strict';

var disconf = require('node-disconf-client');

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

disconf.on('error', function (err) {
  emit({event: 'error', message: String(err && err.stack || err)});
});
disconf.on('ready', function (data) {
  emit({event: 'ready', data: data});
});
disconf.on('change', function (event, data) {
  emit({event: 'change', name: event && event.name, key: data.key, data: data.data});
});

disconf.init({path: process.env.COMPAT_DIR, filename: 'no-such-disconf.properties'}, {
  conf_server_host: process.env.COMPAT_SERVER,
  app: process.env.COMPAT_APP,
  version: process.env.COMPAT_VERSION,
  env: process.env.COMPAT_ENV,
  conf_file_name: process.env.COMPAT_FILES,
  conf_item_name: process.env.COMPAT_ITEMS,
  dist_file: process.env.COMPAT_DIR + '/remote.properties',
  user_define_download_dir: process.env.COMPAT_DIR + '/download',
  conf_server_url_retry_times: 3,
  conf_server_url_retry_sleep_seconds: 1
}, function (err) {
  if (err) emit({event: 'error', message: String(err.stack || err)});
});
