import { useEffect, useState } from "react"
import {
  ApiError,
  listPipelines,
  type PipelineJson,
  pausePipeline,
  pauseScheduler,
  resumePipeline,
  resumeScheduler,
  runPipeline,
  setToken
} from "../api.js"
import { formatCount, formatMs, formatTime } from "../format.js"
import { Problem } from "../Problem.js"
import { useApi, useToken } from "../useApi.js"

// The pipelines (GET /api/v1/pipelines): state, schedule, last and next run, totals since the daemon started; run
// now, pause and resume, one pipeline or the whole scheduler, with the token. Refreshed every 5 s and after each action.

const refreshMs = 5_000

export const PipelinesPage = () => {
  const token = useToken()
  const [tick, setTick] = useState(0)
  const [outcome, setOutcome] = useState<{ readonly ok: boolean; readonly text: string } | null>(null)
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), refreshMs)
    return () => clearInterval(timer)
  }, [])
  const list = useApi(`pipelines ${tick}`, listPipelines)
  // A refresh keeps the last answer on screen rather than flashing "loading".
  const [shown, setShown] = useState(list)
  useEffect(() => {
    if (list.state !== "loading") setShown(list)
  }, [list])

  const act = (what: string, action: () => Promise<unknown>) => {
    setOutcome(null)
    action().then(
      () => {
        setOutcome({ ok: true, text: what })
        setTick((t) => t + 1)
      },
      (error: unknown) => setOutcome({ ok: false, text: error instanceof ApiError ? error.message : String(error) })
    )
  }
  const controlsOff = token === null

  return (
    <section aria-labelledby="pipelines-title">
      <h1 id="pipelines-title">Pipelines</h1>
      {controlsOff && <ControlNeedsToken />}
      {outcome !== null && (
        <p className={outcome.ok ? "status" : "problem"} role="status">
          {outcome.text}
        </p>
      )}
      {shown.state === "loading" && <p className="status" aria-busy="true">Loading the pipelines…</p>}
      {shown.state === "failed" && <Problem failure={shown.failure} />}
      {shown.state === "ok" && shown.value.pipelines.length === 0 && (
        <div className="empty" role="status">
          <h2>No pipelines yet</h2>
          <p>
            See <code>pipelines/</code> (<code>pipelines/demo/demo_slow_log.yaml</code> reads a sample slow log), add a file and
            start <code>slowq run --pipelines &lt;folder&gt;</code>.
          </p>
        </div>
      )}
      {shown.state === "ok" && shown.value.pipelines.length > 0 && (
        <>
          <p className="scheduler">
            Scheduler: <strong>{shown.value.scheduler_paused ? "paused" : "running"}</strong>{" "}
            {shown.value.scheduler_paused ? (
              <button type="button" disabled={controlsOff} onClick={() => act("The scheduler is resumed.", resumeScheduler)}>
                Resume all
              </button>
            ) : (
              <button type="button" disabled={controlsOff} onClick={() => act("The scheduler is paused.", pauseScheduler)}>
                Pause all
              </button>
            )}
          </p>
          <ul className="pipelines">
            {shown.value.pipelines.map((pipeline) => (
              <PipelineCard key={pipeline.name} pipeline={pipeline} controlsOff={controlsOff} act={act} />
            ))}
          </ul>
        </>
      )}
    </section>
  )
}

const ControlNeedsToken = () => {
  const [value, setValue] = useState("")
  return (
    <form
      className="note"
      onSubmit={(event) => {
        event.preventDefault()
        setToken(value)
      }}
    >
      <p>
        Run now, pause and resume need the API token (the daemon's SLOWQ_API_TOKEN or SLOWQ_API_TOKEN_FILE; a daemon started
        without one has control off). Enter it to use them: it is kept for this tab only.
      </p>
      <label>
        API token{" "}
        <input type="password" autoComplete="off" name="control-token" value={value} onChange={(e) => setValue(e.target.value)} required />
      </label>{" "}
      <button type="submit">Use this token</button>
    </form>
  )
}

const PipelineCard = ({
  pipeline,
  controlsOff,
  act
}: {
  readonly pipeline: PipelineJson
  readonly controlsOff: boolean
  readonly act: (what: string, action: () => Promise<unknown>) => void
}) => {
  const last = pipeline.last_run
  const why = controlsOff ? "needs the API token" : undefined
  return (
    <li className="pipeline" data-pipeline={pipeline.name}>
      <h2>
        {pipeline.name} <span className={`state state-${pipeline.state}`}>{pipeline.state}</span>
      </h2>
      <p className="meta">
        {pipeline.source_type} · every {pipeline.schedule}
        {pipeline.next_run_at === null ? "" : ` · next run ${formatTime(pipeline.next_run_at)}`}
        {pipeline.running === null ? "" : ` · running since ${formatTime(pipeline.running.started_at)}`}
        {pipeline.owner === null ? "" : pipeline.state === "standby" ? ` · runs on replica ${pipeline.owner}` : ` · runs here (${pipeline.owner})`}
      </p>
      <dl className="figures">
        <div>
          <dt>Runs</dt>
          <dd data-figure="runs">{formatCount(pipeline.totals.runs)}</dd>
        </div>
        <div>
          <dt>Failures</dt>
          <dd>{formatCount(pipeline.totals.failures)}</dd>
        </div>
        <div>
          <dt>Events stored</dt>
          <dd>{formatCount(pipeline.totals.events_stored)}</dd>
        </div>
        <div>
          <dt>New fingerprints</dt>
          <dd>{formatCount(pipeline.totals.new_fingerprints)}</dd>
        </div>
        <div className="wide">
          <dt>Last run</dt>
          <dd>
            {last === null
              ? "none yet"
              : `${formatTime(last.started_at)} (${last.trigger}), ${formatMs(last.duration_ms)}, ${formatCount(last.events_stored)} events`}
          </dd>
        </div>
      </dl>
      {last?.error != null && <p className="problem">The last run failed: {last.error}</p>}
      <p className="actions">
        <button type="button" disabled={controlsOff} title={why} onClick={() =>
            act(
              pipeline.state === "standby"
                ? `${pipeline.name}: a run was asked of replica ${pipeline.owner ?? "?"}; it starts on its next lease round.`
                : `${pipeline.name}: a run started.`,
              () => runPipeline(pipeline.name)
            )
          }>
          Run now
        </button>{" "}
        {pipeline.paused ? (
          <button type="button" disabled={controlsOff} title={why} onClick={() => act(`${pipeline.name} is resumed.`, () => resumePipeline(pipeline.name))}>
            Resume
          </button>
        ) : (
          <button type="button" disabled={controlsOff} title={why} onClick={() => act(`${pipeline.name} is paused.`, () => pausePipeline(pipeline.name))}>
            Pause
          </button>
        )}
      </p>
    </li>
  )
}
