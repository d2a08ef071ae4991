"""An app with a timer trigger perdure does not run, beside one it does."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
def every_five_minutes(timer: func.TimerRequest) -> None:
    pass


@app.activity_trigger(input_name="value")
def echo(value):
    return value
