// smlocal dashboard: lists training and tuning jobs, and shows one job in detail (summary, metric
// or objective plot, log tail). Everything comes from smlocal's own AWS JSON APIs, called unsigned
// as a browser cannot sign, except metric series, which only /_smlocal/api/ serves. Plain DOM and
// SVG: the binary embeds this file, and the page must work with no network.
'use strict';

const REFRESH_MS = 2000;
const LIST_LIMIT = 100;
const LOG_GROUP = '/aws/sagemaker/TrainingJobs';
const LOG_FIRST_LINES = 500;
const LOG_MAX_LINES = 2000;
// A finished job's last metric points and log lines may land just after its status changes, so
// a finished job is read this many more times before its view stops polling.
const FINAL_READS = 2;
const TERMINAL = new Set(['Completed', 'Failed', 'Stopped']);
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4d7c0f', '#be185d'];
const SVG_NS = 'http://www.w3.org/2000/svg';

// ---------------------------------------------------------------------------------------------
// Server calls

/** Calls an AWS JSON 1.1 operation, e.g. aws('SageMaker.ListTrainingJobs', {...}). */
async function aws(target, input) {
  const response = await fetch('/', {
    method: 'POST',
    headers: {'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': target},
    body: JSON.stringify(input || {}),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const code = (body.__type || `HTTP ${response.status}`).split('#').pop();
    throw new Error(`${target}: ${code}: ${body.message || body.Message || response.statusText}`);
  }
  return body;
}

/** Every page of a paginated operation, up to `maxPages` pages. */
async function awsAll(target, input, listKey, maxPages = 20) {
  const items = [];
  let token;
  for (let page = 0; page < maxPages; page++) {
    const body = await aws(target, token ? {...input, NextToken: token} : input);
    items.push(...(body[listKey] || []));
    token = body.NextToken;
    if (!token) break;
  }
  return items;
}

async function metricSeries(name) {
  const response = await fetch(`/_smlocal/api/training-jobs/${encodeURIComponent(name)}/metrics`);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`metrics of ${name}: ${body.message || response.status}`);
  return body.Metrics || [];
}

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** An HTML element: el('a', {href: '#x', class: 'y'}, 'text', child...). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** An SVG element, as el(). */
function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** node.replaceChildren, leaving out null and undefined children (optional parts). */
function fill(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function setAttributes(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
}

function statusBadge(status) {
  return el('span', {class: `status status-${status || 'Unknown'}`}, status || '?');
}

function fmtTime(seconds) {
  if (seconds === undefined || seconds === null) return '';
  const d = new Date(seconds * 1000);
  const today = new Date();
  const time = d.toLocaleTimeString([], {hour12: false});
  return d.toDateString() === today.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

function fmtDuration(seconds) {
  if (seconds === undefined || seconds === null || !isFinite(seconds)) return '';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function fmtNumber(value) {
  if (value === null || value === undefined) return '';
  if (!isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(3);
  return String(Number(value.toPrecision(6)));
}

/** The resource name at the end of an ARN (lower case, as ARNs keep it). */
function arnName(arn) {
  return arn ? arn.slice(arn.lastIndexOf('/') + 1) : '';
}

// ---------------------------------------------------------------------------------------------
// Plots (inline SVG)

/** [min, max] of numbers (a loop: spreading a long series into Math.min overflows the stack). */
function extent(values) {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** Round tick values covering [min, max]. */
function niceTicks(min, max, count = 5) {
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    min -= pad;
    max += pad;
  }
  const rough = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const r = rough / magnitude;
  const step = magnitude * (r >= 7.5 ? 10 : r >= 3.5 ? 5 : r >= 1.5 ? 2 : 1);
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return {lo, hi, ticks};
}

/**
 * Draws series of points into `svg` (replacing its content) and records the number of points
 * drawn in svg.dataset.points. series: [{name, color, points: [{x, y, title, onclick, ring}],
 * line: 'straight' | 'step' | false, dots: bool, count: false to leave it out of the count}].
 * Points with a null y are gaps.
 */
function drawPlot(svg, plot) {
  const {series, xLabel, yLabel, integerX = false, empty = 'No data yet.'} = plot;
  // Drawn at the element's own size, so that text keeps its size; redrawn on resize.
  svg.smlocalPlot = plot;
  const width = Math.max(320, Math.round(svg.getBoundingClientRect().width) || 640);
  const height = 260;
  const margin = {left: 64, right: 16, top: 30, bottom: 42};
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  const drawable = (p) => isFinite(p.x) && p.y !== null && isFinite(p.y);
  const finite = series.flatMap((s) => s.points).filter(drawable);
  // Series that only summarise others (count: false) are not data points of their own.
  svg.dataset.points = String(series.filter((s) => s.count !== false).flatMap((s) => s.points).filter(drawable).length);
  if (finite.length === 0) {
    svg.append(svgEl('text', {x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'plot-empty'}, empty));
    return;
  }
  // Counted x values (epochs, job numbers) get half a step of room, so no dot sits on an edge.
  const pad = integerX ? 0.5 : 0;
  const [x0, x1] = extent(finite.map((p) => p.x));
  const xs = niceTicks(x0 - pad, x1 + pad);
  const ys = niceTicks(...extent(finite.map((p) => p.y)));
  if (integerX) xs.ticks = xs.ticks.filter(Number.isInteger);
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const px = (x) => margin.left + ((x - xs.lo) / (xs.hi - xs.lo)) * plotW;
  const py = (y) => margin.top + plotH - ((y - ys.lo) / (ys.hi - ys.lo)) * plotH;

  // Grid and axes.
  const grid = svgEl('g', {class: 'plot-grid'});
  for (const t of ys.ticks) {
    grid.append(svgEl('line', {x1: margin.left, x2: width - margin.right, y1: py(t), y2: py(t)}));
    grid.append(svgEl('text', {x: margin.left - 6, y: py(t) + 4, 'text-anchor': 'end'}, fmtNumber(t)));
  }
  for (const t of xs.ticks) {
    grid.append(svgEl('line', {x1: px(t), x2: px(t), y1: margin.top, y2: height - margin.bottom, class: 'vertical'}));
    grid.append(svgEl('text', {x: px(t), y: height - margin.bottom + 16, 'text-anchor': 'middle'}, fmtNumber(t)));
  }
  grid.append(svgEl('text', {x: margin.left + plotW / 2, y: height - 6, 'text-anchor': 'middle', class: 'axis-label'}, xLabel));
  grid.append(svgEl('text', {x: 14, y: margin.top + plotH / 2, 'text-anchor': 'middle', class: 'axis-label',
    transform: `rotate(-90 14 ${margin.top + plotH / 2})`}, yLabel));
  svg.append(grid);

  // Lines break at gaps (null values); dots carry a tooltip.
  series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    const group = svgEl('g', {class: 'plot-series', 'data-name': s.name});
    if (s.line) {
      let runs = [[]];
      for (const p of s.points) {
        if (p.y === null || !isFinite(p.y)) runs.push([]);
        else runs[runs.length - 1].push(p);
      }
      for (const run of runs.filter((r) => r.length > 1)) {
        const coords = [];
        run.forEach((p, k) => {
          if (s.line === 'step' && k > 0) coords.push(`${px(p.x)},${py(run[k - 1].y)}`);
          coords.push(`${px(p.x)},${py(p.y)}`);
        });
        group.append(svgEl('polyline', {points: coords.join(' '), fill: 'none', stroke: color,
          'stroke-width': s.width || 2, 'stroke-dasharray': s.dash}));
      }
    }
    if (s.dots) {
      for (const p of s.points) {
        if (p.y === null || !isFinite(p.y)) continue;
        const dot = svgEl('circle', {cx: px(p.x), cy: py(p.y), r: p.ring ? 6 : 3.5, fill: p.color || color,
          class: [p.onclick ? 'clickable' : '', p.ring ? 'ring' : ''].join(' ').trim() || undefined,
          onclick: p.onclick}, svgEl('title', {}, p.title || `${fmtNumber(p.x)}, ${fmtNumber(p.y)}`));
        group.append(dot);
      }
    }
    svg.append(group);
  });

  // Legend along the top.
  const legend = svgEl('g', {class: 'plot-legend'});
  let lx = margin.left;
  series.filter((s) => s.legend !== false).forEach((s) => {
    const color = s.color || COLORS[series.indexOf(s) % COLORS.length];
    legend.append(svgEl('rect', {x: lx, y: 8, width: 12, height: 12, rx: 2, fill: color}));
    legend.append(svgEl('text', {x: lx + 16, y: 18}, s.name));
    lx += 28 + 7 * s.name.length;
  });
  svg.append(legend);
}

// ---------------------------------------------------------------------------------------------
// Job lists

const state = {
  view: null,              // the open detail view
  tuningNames: new Map(),  // lower-case name (as in ARNs) -> name
};

function rowLink(hash, text) {
  return el('a', {href: hash}, text);
}

function renderTrainingList(jobs) {
  const body = document.querySelector('#training-jobs tbody');
  const selected = location.hash;
  body.replaceChildren(...jobs.map((job) => {
    const hash = `#training/${encodeURIComponent(job.TrainingJobName)}`;
    return el('tr', {'data-name': job.TrainingJobName, class: hash === selected ? 'selected' : undefined},
      el('td', {}, rowLink(hash, job.TrainingJobName)),
      el('td', {}, statusBadge(job.TrainingJobStatus),
        job.SecondaryStatus && job.SecondaryStatus !== job.TrainingJobStatus
          ? el('span', {class: 'muted'}, ` ${job.SecondaryStatus}`) : null),
      el('td', {class: 'muted'}, fmtTime(job.CreationTime)));
  }));
  document.getElementById('training-count').textContent =
    jobs.length >= LIST_LIMIT ? `(latest ${LIST_LIMIT})` : `(${jobs.length})`;
  if (jobs.length === 0) body.append(el('tr', {}, el('td', {colspan: 3, class: 'muted'}, 'No training jobs yet.')));
}

function renderTuningList(jobs) {
  const body = document.querySelector('#tuning-jobs tbody');
  const selected = location.hash;
  body.replaceChildren(...jobs.map((job) => {
    const hash = `#tuning/${encodeURIComponent(job.HyperParameterTuningJobName)}`;
    const counters = job.TrainingJobStatusCounters || {};
    const done = (counters.Completed || 0) + (counters.Stopped || 0) + (counters.NonRetryableError || 0);
    const limit = (job.ResourceLimits || {}).MaxNumberOfTrainingJobs;
    return el('tr', {'data-name': job.HyperParameterTuningJobName, class: hash === selected ? 'selected' : undefined},
      el('td', {}, rowLink(hash, job.HyperParameterTuningJobName)),
      el('td', {}, statusBadge(job.HyperParameterTuningJobStatus), ' ', el('span', {class: 'muted'}, job.Strategy || '')),
      el('td', {class: 'muted'}, limit ? `${done}/${limit}` : String(done)));
  }));
  document.getElementById('tuning-count').textContent =
    jobs.length >= LIST_LIMIT ? `(latest ${LIST_LIMIT})` : `(${jobs.length})`;
  if (jobs.length === 0) body.append(el('tr', {}, el('td', {colspan: 3, class: 'muted'}, 'No tuning jobs yet.')));
}

async function refreshLists() {
  const newestFirst = {MaxResults: LIST_LIMIT, SortBy: 'CreationTime', SortOrder: 'Descending'};
  const [training, tuning] = await Promise.all([
    aws('SageMaker.ListTrainingJobs', newestFirst),
    aws('SageMaker.ListHyperParameterTuningJobs', newestFirst),
  ]);
  const tuningJobs = tuning.HyperParameterTuningJobSummaries || [];
  for (const job of tuningJobs) state.tuningNames.set(job.HyperParameterTuningJobName.toLowerCase(), job.HyperParameterTuningJobName);
  renderTrainingList(training.TrainingJobSummaries || []);
  renderTuningList(tuningJobs);
}

// ---------------------------------------------------------------------------------------------
// Detail views

/** A definition list of [label, value] pairs; empty values are left out. */
function facts(pairs) {
  const list = el('dl', {class: 'facts'});
  for (const [label, value] of pairs) {
    if (value === undefined || value === null || value === '') continue;
    list.append(el('dt', {}, label), el('dd', {}, value));
  }
  return list;
}

function card(title, ...children) {
  return el('section', {class: 'card'}, el('h3', {}, title), ...children);
}

/** Polls a job until it is finished, then FINAL_READS more times. */
class Poller {
  constructor() { this.finalReads = 0; }
  get done() { return this.finalReads > FINAL_READS; }
  saw(status) { if (TERMINAL.has(status)) this.finalReads++; }
}

class TrainingView {
  constructor(name) {
    this.name = name;
    this.poller = new Poller();
    this.summary = el('div', {class: 'summary'});
    this.plot = svgEl('svg', {id: 'metric-plot', class: 'plot', 'data-points': '0'});
    this.plotNote = el('p', {class: 'muted plot-note'});
    // Another stream starts over from its end, at once (a finished job's view polls no more).
    this.streamSelect = el('select', {id: 'log-stream', onchange: () => {
      this.resetLog();
      this.refreshLog().catch((error) => showError(error.message));
    }});
    this.log = el('pre', {id: 'log-tail', class: 'log', 'data-lines': '0'});
    this.logNote = el('span', {class: 'muted'});
    this.resetLog();
    this.root = el('div', {class: 'training-view', 'data-job': name},
      this.summary,
      card('Metrics', this.plot, this.plotNote),
      card('Log tail', el('div', {class: 'log-controls'}, el('label', {}, 'stream ', this.streamSelect), ' ', this.logNote), this.log));
  }

  resetLog() {
    this.logToken = null;
    this.logLines = [];
    this.log.textContent = '';
    this.log.dataset.lines = '0';
  }

  async refresh() {
    if (this.poller.done) return;
    const job = await aws('SageMaker.DescribeTrainingJob', {TrainingJobName: this.name});
    this.renderSummary(job);
    await Promise.all([this.refreshMetrics(job), this.refreshLog()]);
    this.poller.saw(job.TrainingJobStatus);
  }

  renderSummary(job) {
    const resources = job.ResourceConfig || {};
    const algorithm = job.AlgorithmSpecification || {};
    const end = job.TrainingEndTime || (TERMINAL.has(job.TrainingJobStatus) ? job.LastModifiedTime : Date.now() / 1000);
    const tuningName = job.TuningJobArn ? state.tuningNames.get(arnName(job.TuningJobArn)) || arnName(job.TuningJobArn) : '';
    const hyper = Object.entries(job.HyperParameters || {});
    const finals = job.FinalMetricDataList || [];
    fill(this.summary,
      el('h2', {}, 'Training job ', el('span', {class: 'job-name'}, job.TrainingJobName), ' ', statusBadge(job.TrainingJobStatus)),
      job.FailureReason ? el('p', {class: 'error'}, job.FailureReason) : null,
      facts([
        ['Secondary status', job.SecondaryStatus],
        ['Image', algorithm.TrainingImage || algorithm.AlgorithmName],
        ['Instances', resources.InstanceType ? `${resources.InstanceCount || 1} × ${resources.InstanceType}` : ''],
        ['Created', fmtTime(job.CreationTime)],
        ['Started', fmtTime(job.TrainingStartTime)],
        ['Ended', fmtTime(job.TrainingEndTime)],
        ['Duration', job.TrainingStartTime ? fmtDuration(end - job.TrainingStartTime) : ''],
        ['Tuning job', tuningName ? rowLink(`#tuning/${encodeURIComponent(tuningName)}`, tuningName) : ''],
        ['Model', job.ModelArtifacts && job.ModelArtifacts.S3ModelArtifacts],
      ]),
      finals.length ? el('table', {class: 'small'},
        el('thead', {}, el('tr', {}, el('th', {}, 'Final metric'), el('th', {}, 'Value'))),
        el('tbody', {}, ...finals.map((m) => el('tr', {}, el('td', {}, m.MetricName), el('td', {}, fmtNumber(m.Value)))))) : null,
      hyper.length ? el('details', {}, el('summary', {}, `Hyperparameters (${hyper.length})`),
        el('table', {class: 'small'}, el('tbody', {}, ...hyper.map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, v)))))) : null,
    );
  }

  async refreshMetrics(job) {
    const metrics = await metricSeries(this.name);
    const all = metrics.flatMap((m) => m.Points);
    // x: epochs when the emitter gave them, else time, unless every value came in the same second.
    let xLabel;
    let xOf;
    const [t0, t1] = extent(all.map((p) => p.Timestamp));
    if (all.length && all.every((p) => p.Epoch !== undefined)) {
      xLabel = 'epoch';
      xOf = (p) => p.Epoch;
    } else if (all.length && t1 - t0 >= 1) {
      xLabel = 'seconds since the first value';
      xOf = (p) => p.Timestamp - t0;
    } else {
      xLabel = 'value number';
      xOf = (p, k) => k + 1;
    }
    const series = metrics.map((m) => ({
      name: m.MetricName,
      line: 'straight',
      dots: m.Points.length <= 200,
      points: m.Points.map((p, k) => ({x: xOf(p, k), y: p.Value,
        title: `${m.MetricName} = ${fmtNumber(p.Value)} at ${fmtTime(p.Timestamp)}`})),
    }));
    const defined = ((job.AlgorithmSpecification || {}).MetricDefinitions || []).length;
    drawPlot(this.plot, {series, xLabel, yLabel: 'value', integerX: xLabel !== 'seconds since the first value',
      empty: defined ? 'No metric values yet.' : 'This job defines no metrics (AlgorithmSpecification.MetricDefinitions).'});
    this.plotNote.textContent = all.length ? `${all.length} values of ${metrics.length} metric${metrics.length === 1 ? '' : 's'}` : '';
  }

  async refreshLog() {
    const streams = await awsAll('Logs_20140328.DescribeLogStreams',
      {logGroupName: LOG_GROUP, logStreamNamePrefix: `${this.name}/`}, 'logStreams', 5);
    const names = streams.map((s) => s.logStreamName);
    const current = [...this.streamSelect.options].map((o) => o.value);
    if (names.join('\n') !== current.join('\n')) {
      const chosen = this.streamSelect.value;
      this.streamSelect.replaceChildren(...names.map((n) => el('option', {value: n}, n.slice(this.name.length + 1))));
      if (names.includes(chosen)) this.streamSelect.value = chosen;
      else this.resetLog();
    }
    const stream = this.streamSelect.value;
    if (!stream) {
      this.logNote.textContent = 'No log output yet.';
      return;
    }
    // The first read takes the end of the stream; later reads follow the forward token.
    const input = {logGroupName: LOG_GROUP, logStreamName: stream};
    const page = await aws('Logs_20140328.GetLogEvents', this.logToken
      ? {...input, nextToken: this.logToken, startFromHead: true}
      : {...input, startFromHead: false, limit: LOG_FIRST_LINES});
    if (stream !== this.streamSelect.value) return;  // the user switched streams meanwhile
    this.logToken = page.nextForwardToken;
    const events = page.events || [];
    if (events.length === 0 && this.logLines.length) return;
    const stick = this.log.scrollTop + this.log.clientHeight >= this.log.scrollHeight - 4;
    for (const e of events) this.logLines.push(`${fmtTime(e.timestamp / 1000)}  ${e.message}`);
    if (this.logLines.length > LOG_MAX_LINES) this.logLines.splice(0, this.logLines.length - LOG_MAX_LINES);
    this.log.textContent = this.logLines.join('\n');
    this.log.dataset.lines = String(this.logLines.length);
    this.logNote.textContent = `${this.logLines.length} line${this.logLines.length === 1 ? '' : 's'} shown`;
    if (stick) this.log.scrollTop = this.log.scrollHeight;
  }
}

class TuningView {
  constructor(name) {
    this.name = name;
    this.poller = new Poller();
    this.summary = el('div', {class: 'summary'});
    this.plot = svgEl('svg', {id: 'objective-plot', class: 'plot', 'data-points': '0'});
    this.children = el('tbody');
    this.root = el('div', {class: 'tuning-view', 'data-job': name},
      this.summary,
      card('Objective by training job', this.plot),
      card('Training jobs', el('table', {id: 'tuning-children', class: 'small'},
        el('thead', {}, el('tr', {}, ...['#', 'Name', 'Status', 'Objective', 'Hyperparameters'].map((h) => el('th', {}, h)))),
        this.children)));
  }

  async refresh() {
    if (this.poller.done) return;
    const [job, children] = await Promise.all([
      aws('SageMaker.DescribeHyperParameterTuningJob', {HyperParameterTuningJobName: this.name}),
      awsAll('SageMaker.ListTrainingJobsForHyperParameterTuningJob',
        {HyperParameterTuningJobName: this.name, MaxResults: 100, SortBy: 'CreationTime', SortOrder: 'Ascending'},
        'TrainingJobSummaries'),
    ]);
    this.renderSummary(job);
    this.renderChildren(job, children);
    this.poller.saw(job.HyperParameterTuningJobStatus);
  }

  renderSummary(job) {
    const config = job.HyperParameterTuningJobConfig || {};
    const objective = config.HyperParameterTuningJobObjective || {};
    const limits = config.ResourceLimits || {};
    const counters = job.TrainingJobStatusCounters || {};
    const best = job.BestTrainingJob;
    const bestMetric = best && best.FinalHyperParameterTuningJobObjectiveMetric;
    fill(this.summary,
      el('h2', {}, 'Tuning job ', el('span', {class: 'job-name'}, job.HyperParameterTuningJobName), ' ',
        statusBadge(job.HyperParameterTuningJobStatus)),
      job.FailureReason ? el('p', {class: 'error'}, job.FailureReason) : null,
      facts([
        ['Strategy', config.Strategy],
        ['Objective', objective.MetricName ? `${objective.Type} ${objective.MetricName}` : ''],
        ['Limits', `${limits.MaxNumberOfTrainingJobs ?? '?'} jobs, ${limits.MaxParallelTrainingJobs ?? '?'} at a time`],
        ['Jobs', Object.entries(counters).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(', ') || 'none yet'],
        ['Created', fmtTime(job.CreationTime)],
        ['Ended', fmtTime(job.HyperParameterTuningEndTime)],
        ['Best job', best ? rowLink(`#training/${encodeURIComponent(best.TrainingJobName)}`, best.TrainingJobName) : ''],
        ['Best objective', bestMetric ? fmtNumber(bestMetric.Value) : ''],
      ]),
    );
  }

  renderChildren(job, children) {
    const objective = (job.HyperParameterTuningJobConfig || {}).HyperParameterTuningJobObjective || {};
    const maximize = objective.Type === 'Maximize';
    const bestName = job.BestTrainingJob && job.BestTrainingJob.TrainingJobName;
    const open = (name) => () => { location.hash = `#training/${encodeURIComponent(name)}`; };
    const points = children.map((c, k) => {
      const metric = c.FinalHyperParameterTuningJobObjectiveMetric;
      return {x: k + 1, y: metric ? metric.Value : null, name: c.TrainingJobName, status: c.TrainingJobStatus};
    });
    // Best so far, in launch order: how the search converges.
    let best = null;
    const bestSoFar = points.filter((p) => p.y !== null).map((p) => {
      best = best === null ? p.y : maximize ? Math.max(best, p.y) : Math.min(best, p.y);
      return {x: p.x, y: best};
    });
    const statusColor = {Completed: COLORS[0], Stopped: '#a16207', Failed: COLORS[1], InProgress: '#64748b'};
    drawPlot(this.plot, {
      xLabel: 'training job (launch order)',
      yLabel: objective.MetricName || 'objective',
      integerX: true,
      empty: 'No objective values yet.',
      series: [
        {name: 'best so far', color: '#94a3b8', line: 'step', dash: '5 4', width: 1.5, count: false, points: bestSoFar},
        {name: objective.MetricName || 'objective', color: COLORS[0], dots: true,
          points: points.map((p) => ({...p, color: statusColor[p.status], ring: p.name === bestName,
            title: `#${p.x} ${p.name} (${p.status}): ${fmtNumber(p.y)}`, onclick: open(p.name)}))},
      ],
    });
    this.children.replaceChildren(...children.map((c, k) => {
      const metric = c.FinalHyperParameterTuningJobObjectiveMetric;
      const tuned = Object.entries(c.TunedHyperParameters || {}).map(([n, v]) => `${n}=${v}`).join(' ');
      return el('tr', {class: c.TrainingJobName === bestName ? 'best' : undefined},
        el('td', {}, String(k + 1)),
        el('td', {}, rowLink(`#training/${encodeURIComponent(c.TrainingJobName)}`, c.TrainingJobName)),
        el('td', {}, statusBadge(c.TrainingJobStatus)),
        el('td', {}, metric ? fmtNumber(metric.Value) : ''),
        el('td', {class: 'muted'}, tuned));
    }));
  }
}

// ---------------------------------------------------------------------------------------------
// Selection (the URL hash: #training/<name> or #tuning/<name>) and the refresh loop

function openSelection() {
  const match = /^#(training|tuning)\/(.+)$/.exec(location.hash);
  const name = match ? decodeURIComponent(match[2]) : null;
  const table = match ? `${match[1]}-jobs` : null;
  for (const row of document.querySelectorAll('table.jobs tr[data-name]'))
    row.classList.toggle('selected', row.dataset.name === name && row.closest('table').id === table);
  const detail = document.getElementById('detail');
  if (!match) {
    state.view = null;
    detail.replaceChildren(el('p', {class: 'muted'}, 'Select a training or tuning job.'));
    return;
  }
  state.view = match[1] === 'training' ? new TrainingView(name) : new TuningView(name);
  detail.replaceChildren(state.view.root);
}

function showError(message) {
  const box = document.getElementById('error');
  box.hidden = !message;
  box.textContent = message || '';
}

let timer = null;
let running = null;
let again = false;

async function refresh() {
  const view = state.view;
  try {
    await Promise.all([refreshLists(), view ? view.refresh() : null]);
    showError(null);
    document.getElementById('refreshed').textContent = `updated ${new Date().toLocaleTimeString([], {hour12: false})}`;
  } catch (error) {
    showError(error.message);
  }
}

/** Runs one refresh now, or right after the one in flight; then schedules the next. */
function refreshNow() {
  clearTimeout(timer);
  if (running) {
    again = true;
    return;
  }
  running = refresh().finally(() => {
    running = null;
    if (again) {
      again = false;
      refreshNow();
    } else if (document.getElementById('auto-refresh').checked && !document.hidden) {
      timer = setTimeout(refreshNow, REFRESH_MS);
    }
  });
}

window.addEventListener('resize', () => {
  clearTimeout(window.smlocalResize);
  window.smlocalResize = setTimeout(() => {
    for (const svg of document.querySelectorAll('svg.plot')) if (svg.smlocalPlot) drawPlot(svg, svg.smlocalPlot);
  }, 100);
});
window.addEventListener('hashchange', () => {
  openSelection();
  refreshNow();
});
// A hidden tab stops polling and catches up when shown again.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) refreshNow();
});
document.getElementById('auto-refresh').addEventListener('change', refreshNow);
openSelection();
refreshNow();
