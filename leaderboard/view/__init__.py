"""The leaderboard's view model: records → tables, rows, columns, ranks, badges, plots, heatmaps.

Pure functions of the records and the score metadata (no templates, no files, no clock), so the site is a
deterministic function of ``leaderboard/results``. Everything is rendered *generically*: columns come from
score metadata (:class:`~bench.results.scores.ScoreInfo`), plots from ``details[<stage>]["curves"]``, image grids
from ``details[<stage>]["gallery"]``, small tables from ``details[<stage>]["table"]`` and the transfer
row/column/heatmap from ``details["transfer"]`` (the cross-team conventions); no stage or score is named
here except the default sort order (:data:`bench.results.ranking.DEFAULT_SORT`).

Every string that comes from a record stays a plain ``str`` here; the templates escape it (jinja2
autoescape). URLs become links only when they are http(s) (:func:`safe_url`).

One module per part: :mod:`~leaderboard.view.text`, :mod:`~leaderboard.view.tables`, :mod:`~leaderboard.view.plots`,
:mod:`~leaderboard.view.galleries`, :mod:`~leaderboard.view.transfer`, :mod:`~leaderboard.view.badge`,
:mod:`~leaderboard.view.index_table` (the index's compact table with significance bands),
:mod:`~leaderboard.view.scatter` (the index's two-axis view), :mod:`~leaderboard.view.entry`,
:mod:`~leaderboard.view.compare`, :mod:`~leaderboard.view.details` (an entry page's per-stage details and their
JSON files), :mod:`~leaderboard.view.site`,
:mod:`~leaderboard.view.export`, :mod:`~leaderboard.view.explanations`; their public names are re-exported here.
"""

from leaderboard.view.badge import BADGE_COLORS as BADGE_COLORS
from leaderboard.view.badge import BadgeSvg as BadgeSvg
from leaderboard.view.badge import badge as badge
from leaderboard.view.compare import CompareCell as CompareCell
from leaderboard.view.compare import ComparePage as ComparePage
from leaderboard.view.compare import DiffCell as DiffCell
from leaderboard.view.compare import EntryHead as EntryHead
from leaderboard.view.compare import FamilyTable as FamilyTable
from leaderboard.view.compare import GalleryRow as GalleryRow
from leaderboard.view.compare import ScoreRow as ScoreRow
from leaderboard.view.compare import SharedGallery as SharedGallery
from leaderboard.view.compare import compare_page as compare_page
from leaderboard.view.compare import p_text as p_text
from leaderboard.view.details import Download as Download
from leaderboard.view.details import StageDetails as StageDetails
from leaderboard.view.details import stage_details as stage_details
from leaderboard.view.entry import EntryPage as EntryPage
from leaderboard.view.entry import FlagView as FlagView
from leaderboard.view.entry import ScoreLine as ScoreLine
from leaderboard.view.entry import entry_page as entry_page
from leaderboard.view.entry import score_lines as score_lines
from leaderboard.view.explanations import ExplainerGrid as ExplainerGrid
from leaderboard.view.explanations import ExplanationsPage as ExplanationsPage
from leaderboard.view.explanations import explanations_page as explanations_page
from leaderboard.view.export import CSV_FORMULA_PREFIXES as CSV_FORMULA_PREFIXES
from leaderboard.view.export import ENTRY_FIELDS as ENTRY_FIELDS
from leaderboard.view.export import csv_text_cell as csv_text_cell
from leaderboard.view.export import leaderboard_csv as leaderboard_csv
from leaderboard.view.export import leaderboard_json as leaderboard_json
from leaderboard.view.galleries import MAX_IMAGE_BYTES as MAX_IMAGE_BYTES
from leaderboard.view.galleries import PNG_SIGNATURE as PNG_SIGNATURE
from leaderboard.view.galleries import DetailTable as DetailTable
from leaderboard.view.galleries import Gallery as Gallery
from leaderboard.view.galleries import Image as Image
from leaderboard.view.galleries import detail_tables as detail_tables
from leaderboard.view.galleries import galleries as galleries
from leaderboard.view.galleries import png_bytes as png_bytes
from leaderboard.view.galleries import png_data_url as png_data_url
from leaderboard.view.index_table import Family as Family
from leaderboard.view.index_table import IndexColumn as IndexColumn
from leaderboard.view.index_table import IndexRow as IndexRow
from leaderboard.view.index_table import IndexTable as IndexTable
from leaderboard.view.index_table import index_table as index_table
from leaderboard.view.plots import Plot as Plot
from leaderboard.view.plots import Tick as Tick
from leaderboard.view.plots import line_plot as line_plot
from leaderboard.view.plots import nice_ticks as nice_ticks
from leaderboard.view.plots import plots as plots
from leaderboard.view.scatter import Point as Point
from leaderboard.view.scatter import Scatter as Scatter
from leaderboard.view.scatter import TwoAxis as TwoAxis
from leaderboard.view.scatter import place_labels as place_labels
from leaderboard.view.scatter import two_axis as two_axis
from leaderboard.view.site import Site as Site
from leaderboard.view.site import TrackView as TrackView
from leaderboard.view.site import build_site as build_site
from leaderboard.view.site import track_view as track_view
from leaderboard.view.tables import Badge as Badge
from leaderboard.view.tables import Cell as Cell
from leaderboard.view.tables import Column as Column
from leaderboard.view.tables import ColumnGroup as ColumnGroup
from leaderboard.view.tables import Row as Row
from leaderboard.view.tables import Table as Table
from leaderboard.view.tables import build_table as build_table
from leaderboard.view.tables import column_groups as column_groups
from leaderboard.view.tables import flag_badges as flag_badges
from leaderboard.view.tables import make_column as make_column
from leaderboard.view.tables import page_path as page_path
from leaderboard.view.tables import place as place
from leaderboard.view.tables import reference_gap as reference_gap
from leaderboard.view.tables import reference_note as reference_note
from leaderboard.view.tables import score_cell as score_cell
from leaderboard.view.text import SLUG as SLUG
from leaderboard.view.text import compact_interval as compact_interval
from leaderboard.view.text import finite_number as finite_number
from leaderboard.view.text import interval_text as interval_text
from leaderboard.view.text import safe_url as safe_url
from leaderboard.view.text import scalar_text as scalar_text
from leaderboard.view.text import sections as sections
from leaderboard.view.text import slug as slug
from leaderboard.view.text import value_summary as value_summary
from leaderboard.view.transfer import HEAT_LEVELS as HEAT_LEVELS
from leaderboard.view.transfer import HeatCell as HeatCell
from leaderboard.view.transfer import Heatmap as Heatmap
from leaderboard.view.transfer import TransferLine as TransferLine
from leaderboard.view.transfer import heat_level as heat_level
from leaderboard.view.transfer import heatmap as heatmap
from leaderboard.view.transfer import index_matrix as index_matrix
from leaderboard.view.transfer import transfer_line_items as transfer_line_items
from leaderboard.view.transfer import transfer_lines as transfer_lines
from leaderboard.view.transfer import transfer_matrix as transfer_matrix
