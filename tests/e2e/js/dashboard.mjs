// Drives smlocal's web dashboard in headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core; no browser download). Run by test_dashboard.py:
//
//   node dashboard.mjs <base url> <training job> <tuning job> <tuning children> <out dir> \
//        <CreateTrainingJob request JSON of a slow job>
//
// Opens the page, finds both jobs in the lists, opens the training job (metric plot with points,
// log tail with lines), then the tuning job (one objective point per child), and saves
// screenshots of both views in <out dir>. Then, without reloading, it creates the slow job and
// follows it in the page while it runs: the page must refresh by itself. Prints one JSON object
// with what it saw and a `failures` list; exits 1 when anything failed.

import {chromium} from 'playwright-core';

const [baseUrl, trainingJob, tuningJob, childCount, outDir, liveRequest] = process.argv.slice(2);
if (!liveRequest) {
  console.error('usage: node dashboard.mjs <base url> <training job> <tuning job> <tuning children> <out dir> <request>');
  process.exit(2);
}
const STEP_TIMEOUT_MS = 20000;
const out = {failures: [], consoleErrors: [], badResponses: []};

function check(condition, message) {
  if (!condition) out.failures.push(message);
}

/** Waits for document.querySelector(selector).dataset[key] to be a number >= min; returns it. */
async function waitForCount(page, selector, key, min) {
  await page.waitForFunction(
    ([s, k, m]) => Number(document.querySelector(s)?.dataset[k]) >= m,
    [selector, key, min], {timeout: STEP_TIMEOUT_MS});
  return Number(await page.getAttribute(selector, `data-${key}`));
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // CI runs as root, where Chromium's sandbox cannot start.
  args: ['--no-sandbox'],
  headless: true,
});
try {
  const page = await browser.newPage({viewport: {width: 1280, height: 1000}});
  // A CSP violation or a script error shows up here: the page must run clean.
  page.on('console', (message) => {
    if (message.type() === 'error') out.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => out.consoleErrors.push(String(error)));
  page.on('response', (response) => {
    if (response.status() >= 400) out.badResponses.push(`${response.status()} ${response.url()}`);
  });
  page.on('requestfailed', (request) => out.badResponses.push(`failed ${request.url()}`));

  out.step = 'load the page';
  await page.goto(`${baseUrl}/`, {waitUntil: 'load'});
  out.title = await page.title();

  // Both lists fill in by themselves.
  out.step = 'find both jobs in the lists';
  const trainingRow = `#training-jobs tr[data-name="${trainingJob}"]`;
  const tuningRow = `#tuning-jobs tr[data-name="${tuningJob}"]`;
  await page.waitForSelector(trainingRow, {timeout: STEP_TIMEOUT_MS});
  await page.waitForSelector(tuningRow, {timeout: STEP_TIMEOUT_MS});
  out.trainingStatus = (await page.textContent(`${trainingRow} .status`)).trim();
  out.tuningStatus = (await page.textContent(`${tuningRow} .status`)).trim();
  out.listedTrainingJobs = await page.$$eval('#training-jobs tr[data-name]', (rows) => rows.map((r) => r.dataset.name));

  // The training job: summary, metric plot, log tail.
  out.step = 'the training job view';
  await page.click(`${trainingRow} a`);
  await page.waitForSelector(`.training-view[data-job="${trainingJob}"]`, {timeout: STEP_TIMEOUT_MS});
  out.metricPoints = await waitForCount(page, '#metric-plot', 'points', 1);
  out.metricDots = await page.locator('#metric-plot circle').count();
  out.metricLines = await page.locator('#metric-plot polyline').count();
  out.metricLegend = await page.$$eval('#metric-plot .plot-legend text', (texts) => texts.map((t) => t.textContent));
  out.logLines = await waitForCount(page, '#log-tail', 'lines', 1);
  out.logText = await page.textContent('#log-tail');
  out.trainingHeading = (await page.textContent('.training-view h2')).trim();
  out.trainingSelected = await page.locator(`${trainingRow}.selected`).count();
  await page.screenshot({path: `${outDir}/dashboard-training.png`});

  // The tuning job: one objective point per finished child, and the children table.
  out.step = 'the tuning job view';
  await page.click(`${tuningRow} a`);
  await page.waitForSelector(`.tuning-view[data-job="${tuningJob}"]`, {timeout: STEP_TIMEOUT_MS});
  out.objectivePoints = await waitForCount(page, '#objective-plot', 'points', Number(childCount));
  out.objectiveDots = await page.locator('#objective-plot circle').count();
  out.bestRings = await page.locator('#objective-plot circle.ring').count();
  out.childRows = await page.locator('#tuning-children tbody tr').count();
  await page.screenshot({path: `${outDir}/dashboard-tuning.png`});

  // A click on an objective point opens that training job.
  out.step = 'open a training job from the objective plot';
  await page.locator('#objective-plot circle').first().click();
  await page.waitForSelector('.training-view', {timeout: STEP_TIMEOUT_MS});
  out.openedFromPlot = await page.getAttribute('.training-view', 'data-job');
  out.hash = await page.evaluate(() => location.hash);

  // A job created after the page loaded shows up, and its view follows it to the end.
  out.step = 'follow a job created after the page loaded';
  const live = JSON.parse(liveRequest);
  const created = await fetch(`${baseUrl}/`, {
    method: 'POST',
    headers: {'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'SageMaker.CreateTrainingJob'},
    body: liveRequest,
  });
  check(created.ok, `CreateTrainingJob: HTTP ${created.status} ${await created.text()}`);
  const liveRow = `#training-jobs tr[data-name="${live.TrainingJobName}"]`;
  await page.waitForSelector(liveRow, {timeout: STEP_TIMEOUT_MS});
  await page.click(`${liveRow} a`);
  await page.waitForSelector(`.training-view[data-job="${live.TrainingJobName}"]`, {timeout: STEP_TIMEOUT_MS});
  out.liveEarlyPoints = await waitForCount(page, '#metric-plot', 'points', 1);
  out.liveEarlyStatus = (await page.textContent('.training-view h2 .status')).trim();
  out.liveEarlyLogLines = Number(await page.getAttribute('#log-tail', 'data-lines'));
  await page.waitForFunction(() => document.querySelector('.training-view h2 .status')?.textContent === 'Completed',
    null, {timeout: 60000});
  // The last values and lines arrive with, or just after, the status.
  await page.waitForFunction(() => document.querySelector('#log-tail').textContent.includes('simulator: done'),
    null, {timeout: STEP_TIMEOUT_MS});
  out.liveFinalPoints = Number(await page.getAttribute('#metric-plot', 'data-points'));
  out.liveFinalLogLines = Number(await page.getAttribute('#log-tail', 'data-lines'));

  out.errorBanner = await page.isVisible('#error') ? await page.textContent('#error') : '';
  out.step = 'done';
} catch (error) {
  out.failures.push(`${out.step}: ${error.name}: ${error.message.split('\n')[0]}`);
} finally {
  await browser.close();
}

check(out.consoleErrors.length === 0, `console errors: ${out.consoleErrors.join(' | ')}`);
check(out.badResponses.length === 0, `failed requests: ${out.badResponses.join(' | ')}`);
check(!out.errorBanner, `error banner: ${out.errorBanner}`);
console.log(JSON.stringify(out));
process.exit(out.failures.length ? 1 : 0);
